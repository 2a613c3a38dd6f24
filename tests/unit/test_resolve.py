"""The resolver against small data-driven cases (tests/unit/resolve_cases/*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.errors import ResolveError
from buildkit.resolve import RepoSource, Resolved, resolve
from tests.helpers.resolve_sources import ARCH, make_sources, names

CASES = Path(__file__).parent / "resolve_cases"


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.json")):
        doc = json.loads(path.read_text())
        for written in doc["cases"]:
            case = {"semantics": doc["semantics"], **written} if "semantics" in doc else written
            params.append(
                pytest.param(doc["repositories"], case, id=f"{path.stem}: {case['name']}")
            )
    return params


def run(case: dict[str, Any], sources: list[RepoSource]) -> tuple[Resolved, ...]:
    allowed = {k: frozenset(v) for k, v in case.get("allowed_versions", {}).items()}
    return resolve(
        case["request"],
        sources,
        arch=ARCH,
        allowed_versions=allowed or None,
        preferred_versions=case.get("preferred_versions"),
        context=case.get("context", ""),
        semantics=case.get("semantics", "apko"),
    )


@pytest.mark.parametrize(("repositories", "case"), load_cases())
def test_case(repositories: list[dict[str, Any]], case: dict[str, Any]) -> None:
    sources = make_sources(repositories)
    if "error" in case:
        with pytest.raises(ResolveError) as caught:
            run(case, sources)
        message = str(caught.value)
        assert "\n" not in message
        for fragment in case["error"]:
            assert fragment in message
        for fragment in case.get("error_not", []):  # e.g. a message said twice
            assert fragment not in message
        return
    result = run(case, sources)
    if "expect_set" in case:
        assert sorted(names(result)) == sorted(case["expect_set"])
    else:
        assert names(result) == case["expect"]
    if "expect_sources" in case:
        assert [r.source.name for r in result] == case["expect_sources"]


SUCCESS_CASES = [p for p in load_cases() if "error" not in p.values[1]]


@pytest.mark.parametrize(("repositories", "case"), SUCCESS_CASES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_result_is_independent_of_record_and_repository_order(
    repositories: list[dict[str, Any]], case: dict[str, Any], data: st.DataObject
) -> None:
    expected = names(run(case, make_sources(repositories)))
    shuffled = [
        {**repo, "packages": data.draw(st.permutations(repo["packages"]))}
        for repo in data.draw(st.permutations(repositories))
    ]
    assert names(run(case, make_sources(shuffled))) == expected


def test_same_package_in_two_untagged_repositories_comes_from_the_first() -> None:
    spec = {"name": "a", "version": "1.0-r0"}
    repos = [{"name": n, "tag": None, "packages": [spec]} for n in ("first", "second")]
    assert [r.source.name for r in resolve(["a"], make_sources(repos), arch=ARCH)] == ["first"]
    repos.reverse()
    assert [r.source.name for r in resolve(["a"], make_sources(repos), arch=ARCH)] == ["second"]


def test_sources_of_other_archs_are_ignored() -> None:
    (source,) = make_sources(
        [{"name": "main", "tag": None, "packages": [{"name": "a", "version": "1-r0"}]}]
    )
    other = RepoSource(name="arm", arch="aarch64", tag=None, index=source.index)
    assert names(resolve(["a"], [other, source], arch=ARCH)) == ["a=1-r0"]
    with pytest.raises(ResolveError, match="no repository for arch aarch64"):
        resolve(["a"], [source], arch="aarch64")


def test_records_of_a_foreign_arch_are_not_candidates() -> None:
    repo = {
        "name": "main",
        "tag": None,
        "packages": [
            {"name": "a", "version": "2-r0", "arch": "aarch64"},
            {"name": "a", "version": "1-r0"},
            {"name": "b", "version": "1-r0", "arch": "noarch"},
        ],
    }
    assert names(resolve(["a", "b"], make_sources([repo]), arch=ARCH)) == ["a=1-r0", "b=1-r0"]
