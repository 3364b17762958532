"""docs/api.md: its python blocks run, in order, against encoders at the paths they name."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from sensormoco.export.folder import ADAPTER_FUNCTION
from tests.export.conftest import write_encoder, write_paired_encoder

DOC = Path(__file__).parents[2] / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _run_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torchgeo: bool) -> None:
    monkeypatch.chdir(tmp_path)
    write_encoder(Path("run") / "encoder.pt", "conv1")
    write_encoder(Path("run-1x1") / "encoder.pt", "1x1", seed=1)
    write_paired_encoder(Path("run-per-sensor") / "encoder.pt", seed=2)
    namespace: dict[str, Any] = {"__name__": "api_docs"}
    for i, block in enumerate(BLOCKS):
        if "torchgeo" in block and not torchgeo:
            continue
        code = compile(block, f"{DOC.name}:block{i}", "exec")
        exec(code, namespace)


def test_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(BLOCKS) >= 8
    _run_blocks(tmp_path, monkeypatch, torchgeo=False)
    assert (tmp_path / "exported-1x1" / "adapter.safetensors").is_file()
    assert (tmp_path / "exported-pair" / "s1" / "model.safetensors").is_file()


def test_adapter_function_is_the_model_cards() -> None:
    assert any(block == ADAPTER_FUNCTION for block in BLOCKS)


@pytest.mark.skipif(importlib.util.find_spec("torchgeo") is None, reason="torchgeo not installed")
def test_torchgeo_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_blocks(tmp_path, monkeypatch, torchgeo=True)
