from __future__ import annotations

import pytest
import torch
from benchmarks.step_timing import StepTimer, bare_model_steps

from sensormoco.training.config import load_config


def test_step_timer_takes_the_intervals_after_the_warm_up() -> None:
    timer = StepTimer()
    timer.ends = [0.0, 1.0, 3.0, 6.0, 10.0, 15.0]  # intervals 1, 2, 3, 4, 5
    assert timer.result(steps=3, warmup=2).times == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="6 steps recorded"):
        timer.result(steps=5, warmup=2)
    with pytest.raises(ValueError, match=r"warm-up \(>= 1\)"):
        timer.result(steps=1, warmup=0)


@pytest.mark.parametrize("mode", ["fusion-all", "sensor-pairs"])  # shared and grouped queue
def test_bare_model_steps_on_the_cpu(mode: str) -> None:
    config = load_config("cpu-small", {"mode": mode, "crop_size": 32, "batch_size": 4,
                                       "queue_size": 16})  # fmt: skip
    result = bare_model_steps(config, steps=2, warmup=1, device=torch.device("cpu"), bf16=True,
                              channels_last=True)  # fmt: skip
    assert len(result.times) == 2
    assert all(t > 0 for t in result.times)
    assert result.channels_last
