"""buildkit.store: content addressing, atomic writes, tamper detection, stable action keys."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.digest import Blob, action_key, canonical_json, is_sha256
from buildkit.errors import StoreError
from buildkit.store import Store, hash_file
from tests.helpers.store import has, put_bytes

DATA = b"hello, store\n"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "dist")


def objects(store: Store) -> list[Path]:
    return sorted(store.objects.iterdir()) if store.objects.is_dir() else []


# --- objects -----------------------------------------------------------------------------------


def test_an_object_is_named_by_its_sha256_and_read_only(store: Store) -> None:
    blob = put_bytes(store, DATA)
    assert blob == Blob(digest=DIGEST, size=len(DATA))
    path = store.path(blob)
    assert path == store.objects / DIGEST.removeprefix("sha256:")
    assert path.read_bytes() == DATA
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_putting_the_same_bytes_twice_keeps_one_object(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(DATA)
    assert put_bytes(store, DATA) == store.put_file(source) == put_bytes(store, DATA)
    assert len(objects(store)) == 1


def test_put_file_by_move_takes_the_file_and_leaves_no_scratch(store: Store) -> None:
    store.scratch.mkdir(parents=True)
    source = store.scratch / "out.tar"
    source.write_bytes(DATA)
    blob = store.put_file(source, move=True)
    assert not source.exists()
    assert store.verify(blob).read_bytes() == DATA
    assert list(store.scratch.iterdir()) == []


def test_put_file_by_move_of_an_existing_object_drops_the_source(store: Store) -> None:
    put_bytes(store, DATA)
    store.scratch.mkdir(parents=True, exist_ok=True)
    source = store.scratch / "again"
    source.write_bytes(DATA)
    store.put_file(source, move=True)
    assert not source.exists()
    assert len(objects(store)) == 1


def test_a_write_that_fails_before_the_rename_leaves_no_object(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash model: bytes land in dist/tmp first, the rename makes them an object."""
    source = tmp_path / "big"
    source.write_bytes(DATA * 1000)

    def crash(*_args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.put_file(source)
    record = store.record_path("demo", "x86_64.json")
    with pytest.raises(KeyboardInterrupt):
        store.write_record(record, {"kind": "image"})
    monkeypatch.undo()
    assert objects(store) == []
    assert not record.exists()
    assert list(store.scratch.iterdir()) == []  # the writer cleaned up after itself


def test_clean_scratch_removes_what_dead_processes_left_and_keeps_live_ones(
    store: Store,
) -> None:
    store.scratch.mkdir(parents=True)
    dead = store.scratch / "999999999-incoming-abc"  # no such pid
    dead.write_bytes(b"partial")
    dead_dir = store.scratch / "999999998-apko-demo-x"
    (dead_dir / "sbom").mkdir(parents=True)
    stray = store.scratch / "not-a-pid"
    stray.write_bytes(b"?")
    live = store.scratch / f"{os.getpid()}-apko-demo-y"
    live.mkdir()
    assert store.clean_scratch() == 3
    assert sorted(store.scratch.iterdir()) == [live]


def test_scratch_dir_is_removed_on_exit_even_after_an_error(store: Store) -> None:
    seen: list[Path] = []

    def fail_inside() -> None:
        with store.scratch_dir("apko") as work:
            (work / "image.tar").write_bytes(DATA)
            seen.append(work)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    assert seen[0].name.startswith(f"{os.getpid()}-apko-")
    assert not seen[0].exists()


# --- verification ------------------------------------------------------------------------------


def _tamper(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "is missing from the store"),
        (lambda p: _tamper(p, DATA[:-1]), "has 12 bytes, the record says 13"),
        (lambda p: _tamper(p, DATA.upper()), "does not match its bytes"),
    ],
    ids=["missing", "truncated", "altered"],
)
def test_verify_detects_tampering(store: Store, damage: Any, message: str) -> None:
    blob = put_bytes(store, DATA)
    damage(store.path(blob))
    with pytest.raises(StoreError, match=message) as info:
        store.verify(blob, where="dist/demo/x86_64.json")
    assert info.value.where == "dist/demo/x86_64.json"
    assert "\n" not in str(info.value)


def test_discard_then_put_restores_a_damaged_object(store: Store) -> None:
    blob = put_bytes(store, DATA)
    _tamper(store.path(blob), b"junk")
    store.discard(blob)
    assert not has(store, blob)
    put_bytes(store, DATA)
    assert store.verify(blob).read_bytes() == DATA


def test_copy_out_writes_a_verified_copy(store: Store, tmp_path: Path) -> None:
    blob = put_bytes(store, DATA)
    dest = tmp_path / "packages" / "x86_64" / "a.apk"
    store.copy_out(blob, dest)
    assert dest.read_bytes() == DATA
    assert hash_file(dest) == blob
    _tamper(store.path(blob), DATA.upper())
    with pytest.raises(StoreError):
        store.copy_out(blob, tmp_path / "b.apk")
    assert not (tmp_path / "b.apk").exists()


# --- records -----------------------------------------------------------------------------------


def test_records_are_canonical_json_and_round_trip(store: Store) -> None:
    path = store.record_path("demo", "x86_64.json")
    record = {"b": [1, 2], "a": {"z": "é", "y": None}}
    store.write_record(path, record)
    expected = '{\n  "a": {\n    "y": null,\n    "z": "é"\n  },\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert path.read_bytes() == expected.encode()
    assert store.read_record(path) == record
    assert store.read_record(store.record_path("missing.json")) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "malformed record"), (b"[1, 2]", "not a JSON object"), (b"\xff", "malformed")],
)
def test_a_malformed_record_is_one_clear_error(store: Store, content: bytes, message: str) -> None:
    path = store.record_path("demo", "x86_64.json")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StoreError, match=message) as info:
        store.read_record(path)
    assert info.value.where == str(path)
    assert info.value.exit_code == 1


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"digest": "sha256:abc", "size": 1},
        {"digest": "md5:" + "a" * 64, "size": 1},
        {"digest": "sha256:" + "A" * 64, "size": 1},
        {"digest": "sha256:" + "a" * 64, "size": "1"},
    ],
)
def test_malformed_blob_references_are_refused(data: object) -> None:
    with pytest.raises(StoreError, match="blob reference"):
        Blob.from_dict(data, "dist/demo/x86_64.json")


def test_is_sha256() -> None:
    assert is_sha256(DIGEST)
    assert not is_sha256(DIGEST.removeprefix("sha256:"))
    assert not is_sha256(DIGEST[:-1])


# --- action keys -------------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "recipe": 1,
    "arch": "x86_64",
    "config": {"name": "frameworks/demo.yaml", "checksum": "sha256-abc"},
    "lock": "sha256:" + "1" * 64,
    "apko_image": "reg/apko@sha256:" + "2" * 64,
    "source_date_epoch": 1704067200,
    "signing_key": "sha256:" + "3" * 64,
}


def test_action_key_is_stable_across_key_order_and_known_value() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert action_key(BASE) == action_key(reordered)
    # Pinned: a changed serialisation would silently invalidate every cache.
    assert action_key({"a": 1, "b": [1, "x"]}) == hashlib.sha256(b'{"a":1,"b":[1,"x"]}').hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("arch", "aarch64"),
        ("config", {"name": "frameworks/demo.yaml", "checksum": "sha256-abd"}),
        ("lock", "sha256:" + "4" * 64),
        ("apko_image", "reg/apko@sha256:" + "5" * 64),
        ("source_date_epoch", 1704067201),
        ("signing_key", "sha256:" + "6" * 64),
        ("recipe", 2),
    ],
)
def test_action_key_changes_with_every_input(field: str, value: object) -> None:
    assert action_key({**BASE, field: value}) != action_key(BASE)


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_action_key_is_a_function_of_content_only(inputs: dict[str, Any]) -> None:
    shuffled = dict(sorted(inputs.items(), reverse=True))
    assert action_key(inputs) == action_key(shuffled)
    assert len(action_key(inputs)) == 64


def test_canonical_json_is_sorted_indented_and_newline_terminated() -> None:
    assert canonical_json({"b": 1, "a": [True]}) == b'{\n  "a": [\n    true\n  ],\n  "b": 1\n}\n'


def test_lock_is_per_action_name(store: Store) -> None:
    with store.lock("image-abc"):
        assert (store.root / "locks" / "image-abc.lock").exists()
