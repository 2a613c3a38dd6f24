"""The resolver against small data-driven cases (tests/unit/resolve_cases/*.json)."""

from __future__ import annotations

import gc
import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk.index import ApkIndex, IndexRecord
from buildkit.errors import ResolveError
from buildkit.resolve import RepoSource, Resolved, common_versions, resolve
from buildkit.resolve.order import install_order
from buildkit.resolve.universe import (
    Universe,
    cached_universes,
    clear_universe_cache,
    universe_for,
)

CASES = Path(__file__).parent / "resolve_cases"
ARCH = "x86_64"


def make_record(repo: str, spec: dict[str, Any]) -> IndexRecord:
    name, version = spec["name"], spec["version"]
    digest = hashlib.sha1(f"{repo}/{name}-{version}".encode()).hexdigest()[:20]
    return IndexRecord(
        checksum=spec.get("checksum", f"Q1{digest}="),
        name=name,
        version=version,
        arch=spec.get("arch", ARCH),
        size=1,
        installed_size=1,
        provider_priority=spec.get("priority"),
        depends=tuple(spec.get("depends", ())),
        provides=tuple(spec.get("provides", ())),
        install_if=tuple(spec.get("install_if", ())),
    )


def make_sources(repositories: list[dict[str, Any]]) -> list[RepoSource]:
    return [
        RepoSource(
            name=repo["name"],
            arch=ARCH,
            tag=repo["tag"],
            index=ApkIndex(
                records=tuple(make_record(repo["name"], p) for p in repo["packages"]),
                description=repo["name"],
                signers=(),
            ),
        )
        for repo in repositories
    ]


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


def names(result: tuple[Resolved, ...]) -> list[str]:
    return [f"{r.record.name}={r.record.version}" for r in result]


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


ONE_PACKAGE = [{"name": "main", "tag": None, "packages": [{"name": "a", "version": "1-r0"}]}]


@pytest.fixture
def empty_cache() -> Iterator[None]:
    clear_universe_cache()
    yield
    clear_universe_cache()


def test_repeated_resolution_reuses_the_index_maps(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    first, second = universe_for(sources, ARCH), universe_for(list(sources), ARCH)
    assert first.providers is second.providers
    assert universe_for(make_sources(ONE_PACKAGE), ARCH).providers is not first.providers


def test_universe_holds_the_callers_own_sources(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    universe_for(sources, ARCH)
    again = [replace(sources[0])]  # equal, same index object, another RepoSource
    (result,) = resolve(["a"], again, arch=ARCH)
    assert result.source is again[0]


class TracedRecord(IndexRecord):
    """An IndexRecord that can be weakly referenced (IndexRecord has slots)."""


def test_cached_maps_go_when_the_caller_drops_its_indexes(empty_cache: None) -> None:
    traced = TracedRecord(
        **{
            f.name: getattr(make_record("main", {"name": "a", "version": "1-r0"}), f.name)
            for f in fields(IndexRecord)
        }
    )
    (source,) = make_sources(ONE_PACKAGE)
    sources = [replace(source, index=replace(source.index, records=(traced,)))]
    record = weakref.ref(traced)
    del traced, source
    resolve(["a"], sources, arch=ARCH)
    assert cached_universes() == 1
    del sources
    gc.collect()
    assert cached_universes() == 0
    assert record() is None  # nothing kept the records alive


def test_the_cache_is_bounded_and_can_be_cleared(empty_cache: None) -> None:
    kept = [make_sources(ONE_PACKAGE) for _ in range(10)]
    for sources in kept:
        universe_for(sources, ARCH)
    assert 1 <= cached_universes() < len(kept)
    clear_universe_cache()
    assert cached_universes() == 0


def test_a_universe_passed_in_is_used_instead_of_the_cache(empty_cache: None) -> None:
    sources = make_sources(ONE_PACKAGE)
    universe = Universe(sources, ARCH)
    assert names(resolve(["a"], sources, arch=ARCH, universe=universe)) == ["a=1-r0"]
    assert cached_universes() == 0
    with pytest.raises(ValueError, match="universe of x86_64"):
        resolve(["a"], sources, arch="aarch64", universe=universe)


@pytest.mark.parametrize(
    ("deps", "expected"),
    [
        ({}, []),
        ({"b": [], "a": []}, ["a", "b"]),
        ({"a": ["b"], "b": ["c"], "c": []}, ["c", "b", "a"]),
        ({"a": ["c", "b"], "b": [], "c": []}, ["c", "b", "a"]),  # in the order given
        ({"a": ["b"], "b": ["a"]}, ["b", "a"]),  # the back edge to "a" is skipped
        ({"a": ["a"]}, ["a"]),
        ({"a": ["missing"], "b": []}, ["a", "b"]),
        ({"z": ["y"], "y": ["x"], "x": ["z"], "w": ["x"]}, ["y", "z", "x", "w"]),
    ],
)
def test_install_order(deps: dict[str, list[str]], expected: list[str]) -> None:
    assert install_order(deps) == expected


@pytest.mark.parametrize(
    ("roots", "triggers", "expected"),
    [
        (["r2", "r1"], {}, ["d2", "r2", "d1", "r1", "ii", "t"]),
        (["r1", "r2"], {}, ["d1", "r1", "d2", "r2", "ii", "t"]),
        # an install_if package follows its triggers, before the root that completed them
        (["r1", "r2"], {"ii": ["d1", "d2"]}, ["d1", "r1", "d2", "ii", "r2", "t"]),
        # ... or after the root when the root itself is a trigger
        (["r1", "r2"], {"ii": ["r1", "r2"]}, ["d1", "r1", "d2", "r2", "ii", "t"]),
        # a chain of install_if packages, and its dependencies come first
        (["r1"], {"ii": ["d1"], "t": ["ii"]}, ["d1", "ii", "t", "r1", "d2", "r2"]),
        # names no root reaches are walked last, by name, whatever their triggers
        (["r1"], {"ii": ["nothing"]}, ["d1", "r1", "d2", "ii", "r2", "t"]),
    ],
)
def test_install_order_from_roots_with_install_if(
    roots: list[str], triggers: dict[str, list[str]], expected: list[str]
) -> None:
    deps = {"r1": ["d1"], "r2": ["d2"], "d1": [], "d2": [], "ii": [], "t": []}
    assert install_order(deps, roots, triggers) == expected


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.lists(st.sampled_from("abcdefgh"), max_size=3))
)
def test_install_order_puts_dependencies_first_outside_cycles(deps: dict[str, list[str]]) -> None:
    order = install_order(deps)
    assert sorted(order) == sorted(deps)
    position = {name: i for i, name in enumerate(order)}
    reach = {name: _reachable(deps, name) for name in deps}
    for name, targets in deps.items():
        for target in targets:
            if target in deps and name not in reach[target]:  # not on a cycle with name
                assert position[target] < position[name]


def _reachable(deps: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(deps.get(start, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, ()))
    return seen


def test_common_versions_keeps_versions_present_on_every_arch_having_the_name() -> None:
    def source(arch: str, specs: list[tuple[str, str]]) -> RepoSource:
        records = tuple(
            make_record(arch, {"name": n, "version": v, "arch": arch}) for n, v in specs
        )
        return RepoSource(
            name="r",
            arch=arch,
            tag=None,
            index=ApkIndex(records=records, description="", signers=()),
        )

    per_arch = {
        "x86_64": [
            source("x86_64", [("a", "1-r0"), ("a", "2-r0"), ("b", "1-r0"), ("only-x", "1-r0")])
        ],
        "aarch64": [source("aarch64", [("a", "1-r0"), ("b", "2-r0")])],
    }
    assert common_versions(per_arch) == {"a": frozenset({"1-r0"}), "b": frozenset()}
