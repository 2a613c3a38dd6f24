"""The apko lock v1 model: byte-exact round trip, dotted-location errors, diff."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.errors import LockError
from buildkit.lockfile import (
    UNSIGNED,
    LockConfig,
    LockedPackage,
    Lockfile,
    LockKey,
    LockRange,
    LockRepo,
    describe_differences,
    diff,
    read_lockfile,
    write_lockfile,
)


@pytest.fixture(scope="module")
def golden(fixtures: Path) -> bytes:
    return (fixtures / "apko-cli" / "apko.lock.json").read_bytes()


def test_apko_lockfile_round_trips_byte_for_byte(golden: bytes) -> None:
    lock = Lockfile.from_json(golden)
    assert lock.to_json() == golden
    assert lock.archs() == ("x86_64", "aarch64")
    assert [p.name for p in lock.packages_for("aarch64")] == ["pretend-baselayout", "replayout"]
    assert lock.pins("x86_64") == {"pretend-baselayout": "1.0.0-r0", "replayout": "1.0.0-r0"}
    assert lock.packages[0].signature.bounds() == (0, 646)


def test_read_and_write_files(tmp_path: Path, golden: bytes) -> None:
    lock = Lockfile.from_json(golden)
    target = tmp_path / "lockfiles" / "x.lock.json"
    write_lockfile(target, lock)
    assert target.read_bytes() == golden
    assert read_lockfile(target) == lock
    assert list(target.parent.iterdir()) == [target]  # no temporary files left behind


def test_missing_lockfile_is_a_lock_error(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="missing"):
        read_lockfile(tmp_path / "nope.lock.json")


def _package(**overrides: Any) -> LockedPackage:
    base = LockedPackage(
        name="a",
        url="./r/x86_64/a-1.0-r0.apk",
        version="1.0-r0",
        architecture="x86_64",
        signature=LockRange(range="bytes=0-9", checksum="sha1-AAAA"),
        control=LockRange(range="bytes=10-19", checksum="sha1-BBBB"),
        data=LockRange(range="bytes=20-29", checksum="sha256-CCCC"),
        checksum="Q1" + "A" * 28,
    )
    return replace(base, **overrides)


def test_go_json_conventions() -> None:
    """Go escapes <, > and & in strings, omits empty content and config, keeps UTF-8."""
    lock = Lockfile(
        keyring=(LockKey(name="k<&>", url="k"),),
        packages=(_package(name="caf\u00e9", signature=UNSIGNED),),
    )
    text = lock.to_json().decode()
    assert '"name": "k\\u003c\\u0026\\u003e"' in text
    assert '"content"' not in text
    assert '"config"' not in text
    assert "caf\u00e9" in text
    assert '"signature": {\n          "range": "",\n          "checksum": ""\n        }' in text
    assert text.endswith("}\n")
    assert Lockfile.from_json(lock.to_json()) == lock


def _mutated(golden: bytes, path: tuple[Any, ...], value: Any) -> bytes:
    data = json.loads(golden)
    target = data
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("version",), "v2", "version: unsupported lockfile version 'v2'"),
        (
            ("contents", "packages", 3, "control", "range"),
            "0-10",
            "contents.packages[3].control.range",
        ),
        (
            ("contents", "packages", 1, "data", "checksum"),
            "sha1-x",
            "contents.packages[1].data.checksum",
        ),
        (("contents", "packages", 0, "checksum"), "abc", "contents.packages[0].checksum"),
        (("contents", "packages", 2, "architecture"), "amd64", "contents.packages[2].architecture"),
        (
            ("contents", "packages", 2, "version"),
            1,
            "contents.packages[2].version: expected a string, found a number",
        ),
        (("contents", "packages", 2, "url"), "x.tar", "contents.packages[2].url"),
        (("contents", "packages", 0, "name"), KeyError, "contents.packages[0].name: missing"),
        (("contents", "packages", 0, "extra"), 1, "contents.packages[0].extra: unknown key"),
        (("contents", "repositories", 1, "url"), "x", "contents.repositories[1].url"),
        (
            ("contents", "keyring", 0),
            "k",
            "contents.keyring[0]: expected an object, found a string",
        ),
        (("contents", "keyring"), {}, "contents.keyring: expected a list, found an object"),
        (("contents",), None, "contents: expected an object, found null"),
        (("config", "checksum"), True, "config.checksum: expected a string, found a boolean"),
    ],
)
def test_malformed_lockfiles_name_the_dotted_location(
    golden: bytes, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(LockError) as caught:
        Lockfile.from_json(_mutated(golden, path, value), where="lockfiles/demo.lock.json")
    assert message in str(caught.value)
    assert caught.value.where == "lockfiles/demo.lock.json"
    assert "\n" not in str(caught.value)


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(LockError, match="invalid JSON") as caught:
        Lockfile.from_json(b'{\n  "version": "v1",\n  oops\n}', where="x.json")
    assert caught.value.where == "x.json:3"


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["lists", "objects"],
)
def test_a_lockfile_nested_100000_deep_is_one_line_naming_the_command_to_relock(
    text: str,
) -> None:
    with pytest.raises(LockError) as caught:
        Lockfile.from_json(text.encode(), where="lockfiles/demo.lock.json")
    assert str(caught.value) == (
        "lockfiles/demo.lock.json: not a lockfile: nested too deeply (a lockfile is 5 levels "
        "deep) (regenerate it with `nox -s lock -- demo`)"
    )


def test_null_lists_are_read_as_empty(golden: bytes) -> None:
    lock = Lockfile.from_json(_mutated(golden, ("contents", "build_repositories"), None))
    assert lock.build_repositories == ()


def test_diff_lists_changes_per_arch(golden: bytes) -> None:
    old = Lockfile.from_json(golden)
    bumped = replace(old.packages[1], version="1.1.0-r0", checksum="Q1" + "B" * 28)
    rebuilt = replace(old.packages[2], checksum="Q1" + "C" * 28)
    added = _package(name="new", architecture="aarch64")
    new = replace(old, packages=(old.packages[0], bumped, rebuilt, added))
    changes = diff(old, new)
    summary = [(c.package, c.arch, c.old, c.new) for c in changes]
    assert summary == [
        ("replayout", "x86_64", "1.0.0-r0", "1.1.0-r0"),
        ("pretend-baselayout", "aarch64", "1.0.0-r0", "1.0.0-r0"),
        ("new", "aarch64", None, "1.0-r0"),
        ("replayout", "aarch64", "1.0.0-r0", None),
    ]
    assert [c.kind for c in changes][1:] == ["rebuilt", "added", "removed"]
    assert changes[0].kind == "upgraded"
    assert replace(changes[0], old="2.0-r0").kind == "downgraded"
    assert replace(changes[0], old="not a version!").kind == "changed"
    assert str(changes[2]) == "new (aarch64): - -> 1.0-r0"
    assert diff(None, old)[0].kind == "added"
    assert diff(old, old) == []


def test_describe_differences_outside_packages(golden: bytes) -> None:
    old = Lockfile.from_json(golden)
    new = replace(
        old,
        config=LockConfig(name="apko.yaml", checksum="sha256-other"),
        keyring=(replace(old.keyring[0], content="other"),),
        repositories=old.repositories[:1],
        packages=(old.packages[1], old.packages[0], *old.packages[2:]),
    )
    notes = describe_differences(old, new)
    assert notes[0].startswith("config: checksum sha256-eal7")
    assert notes[1] == "keyring: ~./testdata/melange.rsa.pub changed"
    assert notes[2] == "repositories: -./testdata/packages/aarch64 (aarch64)"
    assert notes[3] == "packages: same entries, different install order"
    assert describe_differences(old, copy.deepcopy(old)) == []


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_range = st.builds(
    LockRange,
    range=st.tuples(st.integers(0, 999), st.integers(0, 999)).map(
        lambda ab: f"bytes={min(ab)}-{max(ab)}"
    ),
    checksum=_text.map(lambda t: "sha1-" + t + "x"),
)
_packages = st.builds(
    LockedPackage,
    name=_text.map(lambda t: t + "p"),
    url=_text.map(lambda t: t + ".apk"),
    version=_text.map(lambda t: t + "1"),
    architecture=st.sampled_from(["x86_64", "aarch64", "riscv64"]),
    signature=st.one_of(st.just(UNSIGNED), _range),
    control=_range,
    data=_range.map(lambda r: replace(r, checksum="sha256-" + r.checksum)),
    checksum=st.text("ABCab01+/", min_size=28, max_size=28).map(lambda t: "Q1" + t),
)
_lockfiles = st.builds(
    Lockfile,
    config=st.one_of(st.none(), st.builds(LockConfig, name=_text, checksum=_text)),
    keyring=st.lists(
        st.builds(
            LockKey,
            name=_text.map(lambda t: t + "k"),
            url=_text.map(lambda t: t + "u"),
            content=_text,
        ),
        max_size=2,
    ).map(tuple),
    repositories=st.lists(
        st.builds(
            LockRepo,
            name=_text.map(lambda t: t + "r"),
            url=_text.map(lambda t: t + "/APKINDEX.tar.gz"),
            architecture=st.just("x86_64"),
        ),
        max_size=2,
    ).map(tuple),
    packages=st.lists(_packages, max_size=3).map(tuple),
)


@given(_lockfiles)
def test_any_lockfile_round_trips(lock: Lockfile) -> None:
    data = lock.to_json()
    again = Lockfile.from_json(data)
    if lock.config is not None and not (lock.config.name or lock.config.checksum):
        lock = replace(lock, config=LockConfig(name="", checksum=""))
    assert again == lock
    assert again.to_json() == data
