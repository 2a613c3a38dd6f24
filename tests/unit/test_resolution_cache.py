"""Incremental lock: unchanged inputs come from the resolution cache, without parsing an index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import buildkit.repo
from buildkit.apk.keys import SigningKey
from buildkit.cli import main
from buildkit.errors import ConfigError
from buildkit.events import BaseReporter
from buildkit.lockfile import read_lockfile
from buildkit.project.config import load_project
from buildkit.usecases.locking import LockOptions, LockResult, lock_project
from buildkit.usecases.resolution_cache import ResolutionCache, resolution_key
from tests.helpers.repos import Pkg, make_repo

ARCHS = ("x86_64", "aarch64")
BASE = [Pkg("lib", "1.0-r0"), Pkg("app", "1.0-r0", depends=("lib",)), Pkg("tool", "1.0-r0")]


@pytest.fixture
def project(tmp_path: Path, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "test.rsa.pub").write_bytes(signing_key.public_pem)
    for arch in ARCHS:
        make_repo(root / "repo", arch, BASE, signing_key)
    (root / "frameworks").mkdir()
    (root / "frameworks" / "demo.yaml").write_text(
        "contents:\n  keyring:\n    - ./keys/test.rsa.pub\n  repositories:\n    - ./repo\n"
        "  packages:\n    - app\nentrypoint:\n  command: /bin/sh\n"
    )
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    return root


class _Notes(BaseReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def _lock(root: Path, reporter: BaseReporter | None = None, **options: Any) -> Sequence[LockResult]:
    return lock_project(
        load_project(root), LockOptions(**{"parallel": False, **options}), reporter=reporter
    )


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = buildkit.repo.parse_index

    def spy(data: bytes, **kwargs: Any) -> Any:
        parsed.append(kwargs["where"])
        return real(data, **kwargs)

    monkeypatch.setattr(buildkit.repo, "parse_index", spy)
    return parsed


def _entries(project: Path) -> list[Path]:
    return sorted((project.parent / "cache" / "resolutions").glob("*.json"))


def test_an_unchanged_relock_and_check_parse_no_index(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lock(project)
    _lock(project, check=True)  # --check keeps pins: its own entry
    written = (project / "lockfiles" / "demo.lock.json").read_bytes()
    parsed = _no_parsing(monkeypatch)
    [relock] = _lock(project)
    [check] = _lock(project, check=True)
    assert parsed == []
    assert not relock.changed
    assert not check.changed
    assert (project / "lockfiles" / "demo.lock.json").read_bytes() == written


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: text.replace('"sha256": "', '"sha256": "0'),
        lambda text: json.dumps({**json.loads(text), "key": "another"}),
        lambda text: json.dumps({**json.loads(text), "lockfile": "{}"}),
        lambda text: "[" * 100_000 + "]" * 100_000,
    ],
    ids=["not-json", "wrong-digest", "other-key", "tampered-lockfile", "nested-100000-deep"],
)
def test_a_corrupt_cache_entry_is_reported_ignored_and_replaced(
    project: Path, monkeypatch: pytest.MonkeyPatch, damage: Any
) -> None:
    _lock(project)
    [entry] = _entries(project)
    good = entry.read_text()
    entry.write_text(damage(good))
    parsed = _no_parsing(monkeypatch)
    notes = _Notes()
    [result] = _lock(project, notes)
    warnings = [line for line in notes.lines if "corrupt resolution cache entry" in line]
    assert len(warnings) == 1
    assert "ignoring it" in warnings[0]
    assert parsed, "the entry was trusted"
    assert not result.changed
    assert entry.read_text() == good  # replaced by a fresh, valid entry


def test_an_index_replaced_under_the_same_url_invalidates_the_cache(
    project: Path, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lock(project)
    newer = [Pkg("lib", "1.1-r0"), *BASE[1:]]
    for arch in ARCHS:
        make_repo(project / "repo", arch, newer, signing_key)
    parsed = _no_parsing(monkeypatch)
    [result] = _lock(project)
    assert parsed
    versions = {p.name: p.version for p in read_lockfile(result.path).packages}
    assert versions["lib"] == "1.1-r0"


def test_update_with_an_unknown_name_fails_before_any_resolution(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lock(project)
    parsed = _no_parsing(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        _lock(project, update=("libb",))
    assert "--update libb: no locked or requested package has that name" in str(caught.value)
    assert caught.value.hint == "did you mean: lib"
    assert parsed == []


def test_the_key_covers_every_input() -> None:
    base: dict[str, Any] = {
        "config": "frameworks/a.yaml",
        "checksum": "sha256-x",
        "keys": {"k.rsa.pub": b"pem"},
        "repos": [],
        "options": {"semantics": "apko"},
        "old_lockfile": None,
    }
    variants = [
        {"checksum": "sha256-y"},
        {"keys": {"k.rsa.pub": b"other"}},
        {"options": {"semantics": "apk-tools"}},
        {"old_lockfile": b"{}"},
        {"config": "frameworks/b.yaml"},
    ]
    keys = {resolution_key(**base)} | {resolution_key(**{**base, **v}) for v in variants}
    assert len(keys) == len(variants) + 1


def test_a_cache_entry_is_written_atomically_as_json(tmp_path: Path, project: Path) -> None:
    _lock(project)
    [entry] = _entries(project)
    document = json.loads(entry.read_text())
    assert document["key"] == entry.stem
    assert ResolutionCache(entry.parent, warn=print).get(entry.stem) is not None


def test_check_names_the_config_sections_that_changed_and_the_framework_to_lock(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(project), "lock"]) == 0
    config = project / "frameworks" / "demo.yaml"
    config.write_text(config.read_text().replace("command: /bin/sh", "command: /bin/true"))
    capsys.readouterr()
    assert main(["-C", str(project), "lock", "--check"]) != 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "frameworks/demo.yaml: config changed (entrypoint)" in output
    assert "nox -s lock -- demo" in output
