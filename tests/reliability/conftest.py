"""Fixtures of the bad-input sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sensormoco.data.sen12ms.layout import PatchId
from tests.reliability.common import make_tree


@pytest.fixture
def tree(tmp_path: Path, make_triplet: Callable[..., PatchId]) -> Path:
    return make_tree(tmp_path / "tree", make_triplet)
