"""Evaluation fixtures: the shared synthetic tree packed into a store with the real command."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensormoco.cli.main import main


@pytest.fixture(scope="session")
def synth_store(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth_root`` packed by ``sensormoco pack`` (every patch), shared read-only."""
    store = tmp_path_factory.mktemp("packed") / "store"
    assert main(["pack", "sen12ms", str(synth_root), "-o", str(store)]) == 0
    return store
