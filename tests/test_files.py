"""Atomic writes: the target holds the old bytes or the new ones, never part of them, and no temp file stays."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from insight import files
from insight.files import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


def test_write_bytes_creates_folders_and_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["data.bin"]


def test_write_text_encodes(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    atomic_write_text(target, "café\n")
    assert target.read_bytes() == "café\n".encode()
    atomic_write_text(target, "é", encoding="latin-1")
    assert target.read_bytes() == b"\xe9"


def test_a_failed_stream_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="hash mismatch"), atomic_open(target) as out:
        out.write(b"half of the new")
        raise ValueError("hash mismatch")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.gguf"]


def test_the_temp_file_sits_beside_the_target_until_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with atomic_path(target, suffix=".onnx") as staged:
        assert staged.parent == tmp_path and staged.name.startswith(".model.onnx.") and staged.suffix == ".onnx"
        staged.write_bytes(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights"
    assert not staged.exists()


def test_mode_sets_the_permissions(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    atomic_write_bytes(target, b"x", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    atomic_write_bytes(tmp_path / "private.bin", b"x")
    assert stat.S_IMODE((tmp_path / "private.bin").stat().st_mode) == 0o600  # mkstemp's default


def test_the_file_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    atomic_write_bytes(tmp_path / "x", b"data")
    assert events[:2] == ["fsync", "replace"]  # then the folder, so the rename survives a crash too
    assert events.count("fsync") == 2
