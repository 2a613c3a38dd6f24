"""Local file digests remembered by stat: an unchanged file is not read again, a changed one
always is (the resolution cache key depends on it)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from buildkit.usecases import file_digests
from buildkit.usecases.file_digests import FileDigests


def _later() -> int:
    """A clock far enough ahead that every file counts as settled (not racy)."""
    return time.time_ns() + 3_600 * 10**9


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = file_digests._hex_sha256

    def spy(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(file_digests, "_hex_sha256", spy)
    return seen


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_hashed_once_across_runs(tmp_path: Path, reads: list[Path]) -> None:
    target = tmp_path / "APKINDEX.tar.gz"
    target.write_bytes(b"index")
    memory = tmp_path / "memory.json"
    first = FileDigests(memory, clock=_later)
    assert first.sha256(target) == _sha(b"index")
    first.save()
    again = FileDigests(memory, clock=_later)
    assert again.sha256(target) == _sha(b"index")
    assert reads == [target]


def _rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    stat = path.stat()
    time.sleep(0.02)  # past the filesystem's timestamp tick: the ctime moves
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what `touch -d` could do


def _replace(path: Path, data: bytes) -> None:
    other = path.with_suffix(".new")
    other.write_bytes(data)
    os.replace(other, path)


@pytest.mark.parametrize(
    "change",
    [_rewrite_keeping_mtime, _replace, lambda path, data: path.write_bytes(data)],
    ids=["rewritten-with-its-old-mtime", "replaced-by-another-file", "rewritten"],
)
def test_a_changed_file_is_always_hashed_again(
    tmp_path: Path, reads: list[Path], change: object
) -> None:
    target = tmp_path / "APKINDEX.tar.gz"
    target.write_bytes(b"index-1")
    memory = tmp_path / "memory.json"
    digests = FileDigests(memory, clock=_later)
    digests.sha256(target)
    digests.save()
    change(target, b"index-2")  # type: ignore[operator]
    assert FileDigests(memory, clock=_later).sha256(target) == _sha(b"index-2")
    assert len(reads) == 2


def test_a_file_changed_within_the_racy_window_is_not_remembered(
    tmp_path: Path, reads: list[Path]
) -> None:
    target = tmp_path / "fresh.apk"
    target.write_bytes(b"just written")
    digests = FileDigests(tmp_path / "memory.json")  # the real clock: the file is fresh
    digests.sha256(target)
    digests.sha256(target)
    digests.save()
    assert len(reads) == 2
    assert not (tmp_path / "memory.json").exists()


@pytest.mark.parametrize(
    "memory_text",
    [
        "{not json",
        json.dumps({"format": 99, "files": {}}),
        json.dumps({"format": 1, "files": []}),
        json.dumps({"format": 1, "files": {"PATH": [1, 2, 3]}}),
        json.dumps({"format": 1, "files": {"PATH": [1, 2, 3, 4, 5, "short"]}}),
        json.dumps({"format": 1, "files": {"PATH": ["1", 2, 3, 4, 5, "0" * 64]}}),
    ],
    ids=["not-json", "other-format", "files-not-a-map", "short-entry", "bad-digest", "bad-stat"],
)
def test_a_damaged_memory_is_ignored_and_the_file_hashed(
    tmp_path: Path, reads: list[Path], memory_text: str
) -> None:
    target = tmp_path / "x.apk"
    target.write_bytes(b"package")
    memory = tmp_path / "memory.json"
    memory.write_text(memory_text.replace("PATH", str(target)))
    assert FileDigests(memory, clock=_later).sha256(target) == _sha(b"package")
    assert reads == [target]


def test_a_memory_that_cannot_be_written_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "digests"
    blocker.write_text("a file where the folder should be")
    target = tmp_path / "x.apk"
    target.write_bytes(b"package")
    digests = FileDigests(blocker / "files.json", clock=_later)
    assert digests.sha256(target) == _sha(b"package")
    digests.save()  # no error


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "x.apk"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        FileDigests(tmp_path / "memory.json", clock=_later).sha256(fifo)
