"""``sensormoco pack`` through the real entry point on real GeoTIFF trees."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from sensormoco.cli import main as cli_main
from sensormoco.cli import pack
from sensormoco.data.sen12ms.index import build_index
from sensormoco.data.sen12ms.layout import write_id_list
from sensormoco.data.store.format import open_store

Main = Callable[[Sequence[str]], int]


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Main:
    """The entry point, with ``pack`` among its commands."""
    if pack not in cli_main.COMMANDS:
        monkeypatch.setattr(cli_main, "COMMANDS", (*cli_main.COMMANDS, pack))
    return cli_main.main


def test_help(main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["pack"], ["pack", "sen12ms"], ["pack", "verify"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        assert f"usage: sensormoco {' '.join(command)}" in capsys.readouterr().out


def test_pack_a_subset_then_verify(
    main: Main, synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [r.patch_id for r in build_index(synth_root, read_pixels=False).records[:10]]
    write_id_list(tmp_path / "ids.txt", ids)
    store = tmp_path / "store"
    args = [
        "pack",
        "sen12ms",
        str(synth_root),
        "-o",
        str(store),
        "--ids",
        str(tmp_path / "ids.txt"),
    ]
    assert main([*args, "--workers", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"packed 10 patches into {store}")
    assert err == ""
    assert open_store(store).ids == ids
    assert main(["pack", "verify", str(store)]) == 0
    assert "10 patches, 1 chunk(s), every sha256 matches" in capsys.readouterr().out
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"sensormoco pack: error: {store}: is already a packed store; remove it or "
        "choose another output\n"
    )
    with (store / "lc.npy").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x07\x07")
    assert main(["pack", "verify", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"corrupt: {store / 'lc.npy'}: rows 0-9 do not match their sha256" in err
    (store / "s1.npy").write_bytes(b"")
    assert main(["pack", "verify", str(store)]) == 2
    assert f"error: {store / 's1.npy'}: not a store array" in capsys.readouterr().err


def test_pack_reports_what_it_skips(
    main: Main, tmp_path: Path, make_triplet, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "tree"
    make_triplet(root, "ROIs1158_spring_1_p1")
    make_triplet(root, "ROIs1158_spring_1_p2", s1=np.full((2, 16, 16), np.nan, np.float32))
    assert main(["pack", "sen12ms", str(root), "-o", str(tmp_path / "store")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("packed 1 patches")
    assert err.startswith("skipped 1 bad triplet(s) (nan: 1) and 0 listed id(s) not in the data")
    assert "every S1 pixel is NaN or Inf" in err
