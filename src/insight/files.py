"""Atomic file writes: a temp file beside the target, flushed to disk, then renamed over it.

Readers see the old file or the new one, never a partial one, and concurrent writers of the same
target each write their own temp file (the last rename wins). A failed or interrupted write leaves
the target as it was and removes its temp file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; a best effort where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path, *, mode: int | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temp path beside ``target`` for the caller (or a library) to write; renamed over ``target`` on success.

    The file is fsynced before the rename and the directory after it. ``mode`` sets its permissions
    (``mkstemp`` creates it 0600); ``suffix`` ends the temp file's name, for writers that infer a format
    from it. On an exception ``target`` is untouched and the temp file is removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        with temp.open("rb") as written:
            os.fsync(written.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


@contextmanager
def atomic_open(target: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle to stream into; the whole file replaces ``target`` when the block ends without error."""
    with atomic_path(target, mode=mode) as temp, temp.open("wb") as handle:
        yield handle


def atomic_write_bytes(target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` atomically (see ``atomic_path``)."""
    with atomic_path(target, mode=mode) as temp:
        temp.write_bytes(data)


def atomic_write_text(target: Path, text: str, *, encoding: str = "utf-8", mode: int | None = None) -> None:
    """Replace ``target`` with ``text`` atomically (see ``atomic_path``)."""
    atomic_write_bytes(target, text.encode(encoding), mode=mode)
