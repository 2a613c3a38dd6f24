"""buildkit.resolve.order: install order, dependencies first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.resolve.order import install_order


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
