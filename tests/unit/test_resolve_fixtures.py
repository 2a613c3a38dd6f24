"""The resolver on real distribution indexes (read-only upstream fixtures).

Invariants are checked independently of the resolver's internals: every dependency of every
selected package is satisfied by the selection, no conflict is violated, each name is
selected once, and dependencies are installed before their dependents except within cycles.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk.atom import Atom, parse_atom
from buildkit.apk.index import ApkIndex, IndexRecord, parse_index
from buildkit.apk.keys import Keyring
from buildkit.apk.version import is_valid_version
from buildkit.errors import ResolveError
from buildkit.resolve import RepoSource, Resolved, resolve

ALPINE_URL = "https://dl-cdn.alpinelinux.org/alpine/v3.17/main"
WOLFI_URL = "https://packages.wolfi.dev/os"


@pytest.fixture(scope="module")
def alpine(fixtures: Path) -> RepoSource:
    data = (fixtures / "alpine-3.17-main-aarch64" / "APKINDEX.tar.gz").read_bytes()
    index = parse_index(data, where="alpine-3.17", keyring=None, allow_untrusted=True)
    return RepoSource(name=ALPINE_URL, arch="aarch64", tag=None, index=index)


@pytest.fixture(scope="module")
def wolfi(fixtures: Path) -> RepoSource:
    keyring = Keyring.from_files([fixtures / "wolfi" / "wolfi-signing.rsa.pub"])
    data = (fixtures / "wolfi" / "x86_64" / "APKINDEX.tar.gz").read_bytes()
    index = parse_index(data, where="wolfi", keyring=keyring)
    return RepoSource(name=WOLFI_URL, arch="x86_64", tag=None, index=index)


def answers(record: IndexRecord, atom: Atom) -> bool:
    if record.name == atom.name:
        return atom.matches(record.version)
    for provide in record.provides:
        name, _, version = provide.partition("=")
        if name == atom.name and (version == "" or is_valid_version(version)):
            return atom.op is None or (version != "" and atom.matches(version))
    return False  # apk ignores a provide with an invalid version (pc:jemalloc=5.3.0_)


def providers(result: tuple[Resolved, ...], atom: Atom) -> list[IndexRecord]:
    return [r.record for r in result if answers(r.record, atom)]


def assert_invariants(result: tuple[Resolved, ...], requests: list[str]) -> None:
    names = [r.record.name for r in result]
    assert len(names) == len(set(names)), "a name selected twice"
    position = {name: i for i, name in enumerate(names)}
    edges: dict[str, set[str]] = {name: set() for name in names}
    for text in requests:
        atom = parse_atom(text)
        assert bool(providers(result, atom)) != atom.conflict, f"request {text} not honoured"
    for resolved in result:
        record = resolved.record
        for text in record.depends:
            atom = parse_atom(text)
            found = providers(result, atom)
            if atom.conflict:
                assert [r for r in found if r is not record] == [], (
                    f"{record.name} conflicts with {text}"
                )
            else:
                assert found, f"{record.name} {record.version}: {text} unsatisfied"
                edges[record.name].update(r.name for r in found if r is not record)
    for name, targets in edges.items():
        for target in targets:
            if name not in _reachable(edges, target):  # outside cycles: dependency first
                assert position[target] < position[name], f"{target} must precede {name}"


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    return seen


def versions(result: tuple[Resolved, ...]) -> dict[str, str]:
    return {r.record.name: r.record.version for r in result}


ALPINE_EXPECTED = {
    "alpine-base": {
        "alpine-base": "3.17.3-r0",
        "busybox": "1.35.0-r29",
        "musl": "1.2.3-r5",
        "apk-tools": "2.12.10-r1",
    },
    "busybox": {"busybox": "1.35.0-r29", "musl": "1.2.3-r5"},
    "python3": {
        "python3": "3.10.11-r0",
        "libffi": "3.4.4-r0",
        "sqlite-libs": "3.40.1-r0",
        "zlib": "1.2.13-r0",
    },
    "openssl": {"openssl": "3.0.8-r4", "libcrypto3": "3.0.8-r4", "libssl3": "3.0.8-r4"},
    "curl": {"curl": "8.1.1-r1", "libcurl": "8.1.1-r1", "ca-certificates": "20230506-r0"},
}


@pytest.mark.parametrize("request_name", sorted(ALPINE_EXPECTED))
def test_alpine_resolution_holds_together_and_picks_the_newest(
    alpine: RepoSource, request_name: str
) -> None:
    result = resolve([request_name], [alpine], arch="aarch64")
    assert_invariants(result, [request_name])
    assert ALPINE_EXPECTED[request_name].items() <= versions(result).items()
    assert all(r.source is alpine for r in result)
    assert result[-1].record.name == request_name  # nothing depends back on the request here


def test_alpine_python3_resolves_so_dependencies_through_provides(alpine: RepoSource) -> None:
    result = resolve(["python3"], [alpine], arch="aarch64")
    python = next(r.record for r in result if r.record.name == "python3")
    so_deps = [parse_atom(d) for d in python.depends if d.startswith("so:")]
    assert len(so_deps) >= 10
    for atom in so_deps:
        (provider,) = providers(result, atom)
        assert provider.name != atom.name
    assert [r.record.name for r in result][:1] == ["musl"]  # the C library has no dependencies


def test_alpine_base_gets_a_shell_from_the_priority_provider(alpine: RepoSource) -> None:
    names = {r.record.name for r in resolve(["alpine-base"], [alpine], arch="aarch64")}
    assert "busybox-binsh" in names  # /bin/sh: busybox-binsh k:100 over dash-binsh k:60
    assert "dash-binsh" not in names


def test_alpine_explicit_shell_provider_replaces_the_default(alpine: RepoSource) -> None:
    result = resolve(["alpine-base", "dash-binsh"], [alpine], arch="aarch64")
    names = {r.record.name for r in result}
    assert "dash-binsh" in names
    assert "busybox-binsh" not in names
    assert_invariants(result, ["alpine-base", "dash-binsh"])


def test_alpine_install_if_adds_completion_for_the_selected_kmod(alpine: RepoSource) -> None:
    result = resolve(["kmod", "bash-completion"], [alpine], arch="aarch64", semantics="apk-tools")
    assert versions(result)["kmod-bash-completion"] == versions(result)["kmod"] == "30-r1"
    assert_invariants(result, ["kmod", "bash-completion"])


def test_alpine_install_if_fires_per_request_with_apko_semantics(alpine: RepoSource) -> None:
    # kmod and bash-completion are two requests: neither's dependencies hold both triggers.
    result = resolve(["kmod", "bash-completion"], [alpine], arch="aarch64")
    assert "kmod-bash-completion" not in versions(result)


def test_alpine_large_selection_holds_together(alpine: RepoSource) -> None:
    requests = ["alpine-base", "build-base", "git", "bash", "python3", "openssh", "docs"]
    result = resolve(requests, [alpine], arch="aarch64", semantics="apk-tools")
    assert len(result) > 50
    assert_invariants(result, requests)
    assert "git-doc" in versions(result)  # install_if: docs + git
    apko = resolve(requests, [alpine], arch="aarch64")
    assert "git-doc" not in versions(apko)  # apko: docs and git are two requests


@pytest.mark.parametrize(
    ("requests", "fragments"),
    [
        (
            ["pythn3"],
            ["framework f, arch aarch64: nothing provides pythn3", "did you mean: python3"],
        ),
        (
            ["python3", "!libffi"],
            ["cannot satisfy libffi", "python3 3.10.11-r0 requires so:libffi.so.8"],
        ),
        (["python3=3.9"], ["nothing provides python3=3.9", "available: python3 3.10.11-r0"]),
    ],
)
def test_alpine_errors_are_one_actionable_line(
    alpine: RepoSource, requests: list[str], fragments: list[str]
) -> None:
    with pytest.raises(ResolveError) as caught:
        resolve(requests, [alpine], arch="aarch64", context="framework f, arch aarch64")
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


# Real bad metadata in Alpine 3.17: provides whose versions apk rejects.
INVALID_PROVIDES = [("jemalloc-dev", "pc:jemalloc=5.3.0_"), ("rtmpdump-dev", "pc:librtmp=v2.4")]


@pytest.mark.parametrize(("package", "provide"), INVALID_PROVIDES)
def test_alpine_package_with_an_invalid_provide_resolves(
    alpine: RepoSource, package: str, provide: str
) -> None:
    (record,) = [r for r in alpine.index.records if r.name == package]
    assert provide in record.provides
    result = resolve([package], [alpine], arch="aarch64")
    assert_invariants(result, [package])
    assert result[-1].record is record


@pytest.mark.parametrize(("package", "provide"), INVALID_PROVIDES)
def test_alpine_invalid_provide_is_ignored(alpine: RepoSource, package: str, provide: str) -> None:
    name = provide.partition("=")[0]
    with pytest.raises(ResolveError, match=f"nothing provides {name} \\(requested\\)"):
        resolve([name], [alpine], arch="aarch64")


def test_alpine_the_other_provides_of_that_package_still_count(alpine: RepoSource) -> None:
    result = resolve(["cmd:jemalloc-config"], [alpine], arch="aarch64")
    assert result[-1].record.name == "jemalloc-dev"


def _tampered(
    source: RepoSource, name: str, change: Callable[[IndexRecord], IndexRecord]
) -> RepoSource:
    records = tuple(change(r) if r.name == name else r for r in source.index.records)
    return replace(source, index=replace(source.index, records=records))


def test_alpine_invalid_dependency_makes_its_package_uninstallable(alpine: RepoSource) -> None:
    tampered = _tampered(
        alpine, "musl", lambda r: replace(r, depends=("so:libc.musl-aarch64.so.1=1.0_",))
    )
    with pytest.raises(ResolveError) as caught:
        resolve(["busybox"], [tampered], arch="aarch64")
    assert str(caught.value).startswith(
        f"cannot install musl 1.2.3-r5 from {ALPINE_URL} (required by busybox 1.35.0-r29):"
        " invalid dependency 'so:libc.musl-aarch64.so.1=1.0_'"
    )
    # only resolutions that need it fail
    assert versions(resolve(["nasm-doc"], [tampered], arch="aarch64")) == {"nasm-doc": "2.15.05-r1"}


def test_alpine_invalid_install_if_is_ignored(alpine: RepoSource) -> None:
    tampered = _tampered(
        alpine,
        "kmod-bash-completion",
        lambda r: replace(r, install_if=("kmod=30-r1", "bash-completion=v2")),
    )
    names = versions(resolve(["kmod", "bash-completion"], [tampered], arch="aarch64"))
    assert "kmod" in names
    assert "kmod-bash-completion" not in names


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_alpine_result_does_not_depend_on_index_order(alpine: RepoSource, seed: int) -> None:
    records = list(alpine.index.records)
    random.Random(seed).shuffle(records)
    shuffled = replace(alpine, index=ApkIndex(records=tuple(records), description="", signers=()))
    requests = ["alpine-base", "python3", "curl"]
    expected = [
        (r.record.name, r.record.version) for r in resolve(requests, [alpine], arch="aarch64")
    ]
    actual = [
        (r.record.name, r.record.version) for r in resolve(requests, [shuffled], arch="aarch64")
    ]
    assert actual == expected


WOLFI_EXPECTED = {
    "wolfi-base": {
        "wolfi-base": "1-r0",
        "busybox": "1.35.0-r2",
        "apk-tools": "2.12.9-r1",
        "glibc": "2.36-r0",
    },
    "python3": {"python3": "3.10.6-r0", "openssl": "3.0.7-r0", "glibc": "2.36-r0"},
    "openssl": {"openssl": "3.0.7-r0"},  # the index lists 3.0.5-r2 and 3.0.7-r0
    "build-base": {"gcc": "12.2.0-r5", "binutils": "2.39-r1", "make": "4.3-r1"},
}


@pytest.mark.parametrize("request_name", sorted(WOLFI_EXPECTED))
def test_wolfi_resolution_holds_together(wolfi: RepoSource, request_name: str) -> None:
    result = resolve([request_name], [wolfi], arch="x86_64")
    assert_invariants(result, [request_name])
    assert WOLFI_EXPECTED[request_name].items() <= versions(result).items()


def test_wolfi_every_package_resolves(wolfi: RepoSource) -> None:
    for record in wolfi.index.records:
        assert_invariants(resolve([record.name], [wolfi], arch="x86_64"), [record.name])


def test_wolfi_local_repository_overrides_only_when_tagged(wolfi: RepoSource) -> None:
    local_record = IndexRecord(
        checksum="Q1localhello=",
        name="hello-wolfi",
        version="2.12-r1",
        arch="x86_64",
        size=1,
        installed_size=1,
        depends=("so:libc.so.6",),
        provides=("cmd:hello=2.12-r1",),
    )
    local = RepoSource(
        name="./packages",
        arch="x86_64",
        tag="local",
        index=ApkIndex(records=(local_record,), description="local", signers=()),
    )
    with pytest.raises(ResolveError, match="request it as hello-wolfi@local"):
        resolve(["hello-wolfi"], [wolfi, local], arch="x86_64")
    result = resolve(["hello-wolfi@local"], [wolfi, local], arch="x86_64")
    assert [r.source.name for r in result if r.record.name == "hello-wolfi"] == ["./packages"]
    assert_invariants(result, ["hello-wolfi"])
