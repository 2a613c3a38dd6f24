"""The checks the kill-and-rerun harness makes after each kill (tests/helpers/kill_rerun.py),
on damage made by hand: they must see every kind a kill could leave."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers.demo import check_store
from tests.helpers.kill_rerun import Kill, Totals, whole_documents


def _project(root: Path) -> Path:
    blob = b"an object"
    name = hashlib.sha256(blob).hexdigest()
    (root / "dist" / "sha256").mkdir(parents=True)
    (root / "dist" / "sha256" / name).write_bytes(blob)
    (root / "dist" / "demo").mkdir()
    record = {"outputs": {"tarball": {"digest": f"sha256:{name}", "size": len(blob)}}}
    (root / "dist" / "demo" / "x86_64.json").write_text(json.dumps(record))
    (root / "lockfiles").mkdir()
    (root / "lockfiles" / "demo.lock.json").write_text("{}")
    return root / "dist" / "sha256" / name


def test_a_sound_project_has_no_problems(tmp_path: Path) -> None:
    _project(tmp_path)
    assert check_store(tmp_path) == []
    assert whole_documents(tmp_path) == []


@pytest.mark.parametrize(
    "path", ["lockfiles/demo.lock.json", "dist/demo/x86_64.json", "dist/actions/k.json"]
)
def test_a_truncated_record_or_lockfile_is_seen(tmp_path: Path, path: str) -> None:
    _project(tmp_path)
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text('{"outputs": ')
    assert [p.split(":")[0] for p in whole_documents(tmp_path)] == [path]


def test_scratch_is_not_a_record(tmp_path: Path) -> None:
    _project(tmp_path)
    (tmp_path / "dist" / "tmp" / "123-x").mkdir(parents=True)
    (tmp_path / "dist" / "tmp" / "123-x" / "half.json").write_text("{")
    assert whole_documents(tmp_path) == []


def test_an_object_whose_bytes_changed_or_that_is_missing_is_seen(tmp_path: Path) -> None:
    blob = _project(tmp_path)
    blob.write_bytes(b"other bytes")
    assert [p.split(":")[0] for p in check_store(tmp_path)] == [
        blob.name,
        str(tmp_path / "dist/demo/x86_64.json"),
    ]
    blob.unlink()
    assert len(check_store(tmp_path)) == 1


def test_only_delivered_kills_count_and_each_must_hold() -> None:
    kills = (
        Kill(number=1, command="lock", delay=1.0, delivered=True, problems=()),
        Kill(number=2, command="build", delay=9.0, delivered=False, problems=()),
        Kill(number=3, command="publish", delay=2.0, delivered=True, problems=("re-run exited 1",)),
    )
    totals = Totals(
        tried=sum(k.delivered for k in kills), survived=sum(k.survived for k in kills), kills=kills
    )
    assert totals.line() == "kills survived: 1 of 2 tried (lock 1/1, build 0/0, publish 0/1)"
    assert "NOT SURVIVED: re-run exited 1" in kills[2].line(3)
    assert "not counted" in kills[1].line(3)
