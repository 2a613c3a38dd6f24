"""Security databases and matching: the fixture databases (Wolfi, Chainguard, Alpine YAML and
JSON), "0", several fixed versions, non-CVE ids, origins, and apk's exact version order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from buildkit.apk.version import compare_versions
from buildkit.errors import SecDbError
from buildkit.scan.match import Installed, affected_ids, fixed_between, match
from buildkit.secdb import SecDb, SecFix, parse_secdb

SECDB = Path(__file__).resolve().parents[1] / "fixtures" / "secdb"

# A database written for the cases the fixtures do not hold: ids that are not CVEs, and fix
# versions whose order only apk's exact rules get right.
EDGES = {
    "reponame": "edges",
    "packages": [
        {
            "pkg": {
                "name": "gotool",
                "secfixes": {"1.2.0-r1": ["GO-2023-1840", "GHSA-2q89-485c-9j2x"]},
            }
        },
        {"pkg": {"name": "rusty", "secfixes": {"0.4.2-r0": ["RUSTSEC-2023-0052"]}}},
        {"pkg": {"name": "snap", "secfixes": {"1.0_git20230101-r0": ["CVE-2023-0001"]}}},
        {"pkg": {"name": "pre", "secfixes": {"2.0-r0": ["CVE-2023-0002"]}}},
        {"pkg": {"name": "bumps", "secfixes": {"1.2.12-r3": ["CVE-2023-0003"]}}},
        {
            "pkg": {
                "name": "twice",
                "secfixes": {"1.1-r0": ["CVE-2023-0004"], "1.3-r0": ["CVE-2023-0004"]},
            }
        },
        {
            "pkg": {
                "name": "bad",
                "secfixes": {"1.0-foo": ["CVE-2023-0005"], "2.0-r0": ["CVE-2023-0006"]},
            }
        },
    ],
}


def _load(name: str) -> SecDb:
    if name == "alpine-json":  # Alpine publishes the same data as JSON on secdb.alpinelinux.org
        document = yaml.safe_load((SECDB / "alpine-v3.15-main.yaml").read_bytes())
        return parse_secdb(json.dumps(document).encode(), where="alpine-v3.15-main.json")
    if name == "edges":
        return parse_secdb(json.dumps(EDGES).encode(), where="edges.json")
    return parse_secdb((SECDB / name).read_bytes(), where=name)


@pytest.mark.parametrize(
    ("db", "packages", "entries"),
    [
        ("wolfi-security.json", 27, 59),
        ("chainguard-security.json", 57, 197),
        ("alpine-v3.15-main.yaml", 5, 13),
        ("alpine-json", 5, 13),
    ],
)
def test_fixture_databases_parse(db: str, packages: int, entries: int | None) -> None:
    parsed = _load(db)
    assert len(parsed.packages) == packages
    if entries is not None:
        assert parsed.entries == entries


def test_alpine_yaml_and_json_forms_give_the_same_records() -> None:
    assert _load("alpine-v3.15-main.yaml").packages == _load("alpine-json").packages


# (database, package, installed version, origin, expected (id, fixed in) pairs)
CASES = [
    # "0": never affected, whatever the version
    ("wolfi-security.json", "coreutils", "9.1-r0", "", []),
    ("wolfi-security.json", "flex", "2.6.4-r0", "", []),
    # several fixed versions of one package: only those not reached
    (
        "wolfi-security.json",
        "zlib",
        "1.2.11-r9",
        "",
        [("CVE-2018-25032", "1.2.12-r0"), ("CVE-2022-37434", "1.2.12-r3")],
    ),
    ("wolfi-security.json", "zlib", "1.2.12-r0", "", [("CVE-2022-37434", "1.2.12-r3")]),
    ("wolfi-security.json", "zlib", "1.2.12-r3", "", []),
    ("wolfi-security.json", "binutils", "2.39-r2", "", [("CVE-2022-38128", "2.39-r3")]),
    (
        "chainguard-security.json",
        "openssl",
        "3.0.7-r1",
        "",
        [
            ("CVE-2022-4203", "3.0.8-r0"),
            ("CVE-2022-4304", "3.0.8-r0"),
            ("CVE-2022-4450", "3.0.8-r0"),
            ("CVE-2023-0215", "3.0.8-r0"),
            ("CVE-2023-0216", "3.0.8-r0"),
            ("CVE-2023-0217", "3.0.8-r0"),
            ("CVE-2023-0286", "3.0.8-r0"),
            ("CVE-2023-0401", "3.0.8-r0"),
            ("CVE-2023-0464", "3.1.0-r1"),
        ],
    ),
    # "0" next to fixed versions: the "0" ids never show (apko: a GHSA- id among them)
    ("wolfi-security.json", "apko", "0.10.0-r6", "", []),
    (
        "wolfi-security.json",
        "apko",
        "0.8.0-r0",
        "",
        [
            ("CVE-2023-30551", "0.8.0-r1"),
            ("CVE-2023-39325", "0.10.0-r6"),
            ("CVE-2023-3978", "0.10.0-r6"),
        ],
    ),
    (
        "chainguard-security.json",
        "git",
        "2.39.1-r0",
        "",
        [("CVE-2023-22490", "2.39.2-r0"), ("CVE-2023-23946", "2.39.2-r0")],
    ),
    # ids that are not CVEs are kept as written
    (
        "edges",
        "gotool",
        "1.2.0-r0",
        "",
        [("GHSA-2q89-485c-9j2x", "1.2.0-r1"), ("GO-2023-1840", "1.2.0-r1")],
    ),
    ("edges", "rusty", "0.4.1-r3", "", [("RUSTSEC-2023-0052", "0.4.2-r0")]),
    # _p: 9.2.1 is newer than 9.2_p1 (a string comparison says older)
    ("chainguard-security.json", "openssh", "9.2-r5", "", [("CVE-2023-25136", "9.2_p1-r0")]),
    ("chainguard-security.json", "openssh", "9.2_p1-r0", "", []),
    ("chainguard-security.json", "openssh", "9.2.1-r0", "", []),
    ("chainguard-security.json", "openssh", "9.1_p1-r9", "", [("CVE-2023-25136", "9.2_p1-r0")]),
    # _git is after the release it follows, before the next
    ("edges", "snap", "1.0-r5", "", [("CVE-2023-0001", "1.0_git20230101-r0")]),
    ("edges", "snap", "1.0_git20221231-r9", "", [("CVE-2023-0001", "1.0_git20230101-r0")]),
    ("edges", "snap", "1.0_git20230101-r0", "", []),
    ("edges", "snap", "1.0.1-r0", "", []),
    # pre-releases sort below the release
    ("edges", "pre", "2.0_rc3-r9", "", [("CVE-2023-0002", "2.0-r0")]),
    # -r bumps compare as numbers: r10 is after r3 (a string comparison says before)
    ("edges", "bumps", "1.2.12-r10", "", []),
    ("edges", "bumps", "1.2.12-r2", "", [("CVE-2023-0003", "1.2.12-r3")]),
    # an id listed under two versions is fixed from the earlier one
    ("edges", "twice", "1.2-r0", "", []),
    ("edges", "twice", "1.0-r0", "", [("CVE-2023-0004", "1.1-r0")]),
    # origin: Alpine's database is keyed by origin; xz-libs is found under xz
    ("alpine-v3.15-main.yaml", "xz-libs", "5.2.5-r0", "xz", [("CVE-2022-1271", "5.2.5-r1")]),
    ("alpine-v3.15-main.yaml", "xz-libs", "5.2.5-r0", "", []),
    ("alpine-json", "zsh", "5.8-r0", "", [("CVE-2021-45444", "5.8.1-r0")]),
    ("alpine-json", "zstd-libs", "1.4.5-r0", "zstd", [("CVE-2021-24032", "1.4.9-r0")]),
    # a package whose origin the database does not know is still found by its own name
    (
        "wolfi-security.json",
        "busybox",
        "1.35.0-r2",
        "busybox-src",
        [("CVE-2022-28391", "1.35.0-r3"), ("CVE-2022-30065", "1.35.0-r3")],
    ),
]


@pytest.mark.parametrize(("db", "name", "version", "origin", "expected"), CASES)
def test_matching(
    db: str, name: str, version: str, origin: str, expected: list[tuple[str, str]]
) -> None:
    database = _load(db)
    package = Installed(framework="fw", arch="x86_64", name=name, version=version, origin=origin)
    findings, problems = match([package], [database])
    assert [(f.id, f.fixed_in) for f in findings] == expected
    assert problems == []


def test_an_invalid_version_in_the_database_is_reported_not_guessed() -> None:
    package = Installed(framework="fw", arch="x86_64", name="bad", version="1.5-r0")
    findings, problems = match([package], [_load("edges")])
    assert [(f.id, f.fixed_in) for f in findings] == [("CVE-2023-0006", "2.0-r0")]
    assert problems == ["bad: fixed version '1.0-foo' is not an apk version"]


def test_an_invalid_installed_version_is_reported_not_compared() -> None:
    package = Installed(framework="fw", arch="x86_64", name="zlib", version="1.2.x")
    findings, problems = match([package], [_load("wolfi-security.json")])
    assert findings == []
    assert problems == ["fw x86_64: zlib '1.2.x' is not an apk version; not compared"]


def test_a_package_is_compared_only_with_the_database_it_names() -> None:
    wolfi, alpine = _load("wolfi-security.json"), _load("alpine-json")
    package = Installed(
        framework="fw", arch="x86_64", name="zlib", version="1.2.11-r0", database=alpine.source
    )
    findings, _ = match([package], [wolfi, alpine])
    assert {f.database for f in findings} == {alpine.source}


@pytest.mark.parametrize(
    ("old", "new", "fixed"),
    [
        ("1.2.11-r0", "1.2.12-r3", ("CVE-2018-25032", "CVE-2022-37434")),
        ("1.2.12-r0", "1.2.12-r2", ()),
        ("1.2.12-r0", "1.2.12-r3", ("CVE-2022-37434",)),
        ("1.2.12-r3", "1.3-r0", ()),
    ],
)
def test_fixed_between_names_what_an_upgrade_fixes(
    old: str, new: str, fixed: tuple[str, ...]
) -> None:
    fixes = _load("wolfi-security.json").by_name["zlib"]
    assert fixed_between(old, new, fixes) == fixed


def test_affected_ids_sorts_ids() -> None:
    fixes = _load("wolfi-security.json").by_name["curl"]
    assert affected_ids("7.85.0-r0", fixes) == [
        ("CVE-2022-32221", "7.86.0-r0"),
        ("CVE-2022-42916", "7.86.0-r0"),
    ]


BAD = [
    (b'{"packages": [', "malformed JSON"),
    (b'{"reponame": "os"}', 'unknown format: no "packages" list'),
    (b"[1, 2]", 'unknown format: no "packages" list'),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "unknown format: not JSON and not UTF-8 text"),
    (b"key: [unclosed\n", "unknown format: neither JSON nor YAML"),
    (b"just some text\n", 'unknown format: no "packages" list'),
    (b'{"packages": [{"name": "x"}]}', 'expected {"pkg": {...}}'),
    (b'{"packages": [{"pkg": {"name": "x", "secfixes": ["1.0"]}}]}', "x: secfixes must map"),
    (
        b'{"packages": [{"pkg": {"name": "x", "secfixes": {"1.0-r0": "CVE-1"}}}]}',
        "x 1.0-r0: expected a list of ids",
    ),
    (b'{"packages": [{"pkg": {"secfixes": {}}}]}', "pkg.name must be a non-empty string"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_databases_are_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(SecDbError) as caught:
        parse_secdb(data, where="db.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("db.json")
    assert "\n" not in str(caught.value)


def test_a_yaml_version_read_as_a_number_must_be_quoted() -> None:
    data = b"packages:\n- pkg:\n    name: x\n    secfixes:\n      1.2:\n      - CVE-2023-0001\n"
    with pytest.raises(SecDbError, match=r"secfixes key 1\.2 is not a version string"):
        parse_secdb(data, where="db.yaml")
    zero = b"packages:\n- pkg:\n    name: x\n    secfixes:\n      0:\n      - CVE-2023-0001\n"
    assert parse_secdb(zero, where="db.yaml").by_name["x"][0].never_affected


_VERSIONS = st.builds(
    lambda numbers, suffix, revision: ".".join(map(str, numbers)) + suffix + f"-r{revision}",
    st.lists(st.integers(0, 30), min_size=1, max_size=3),
    st.sampled_from(["", "_rc1", "_p1", "_p2", "_git20230101", "_alpha", "a"]),
    st.integers(0, 12),
)


@given(installed=_VERSIONS, fixed=_VERSIONS)
def test_affected_exactly_when_older_than_the_fix_by_apk_order(installed: str, fixed: str) -> None:
    fixes = (SecFix(version=fixed, ids=("CVE-2023-0001",)),)
    affected = bool(affected_ids(installed, fixes))
    assert affected == (compare_versions(installed, fixed) < 0)
    if affected:  # and an upgrade to the fix fixes it
        assert fixed_between(installed, fixed, fixes) == ("CVE-2023-0001",)


def test_an_id_two_databases_name_is_one_finding() -> None:
    wolfi, chainguard = _load("wolfi-security.json"), _load("chainguard-security.json")
    package = Installed(framework="fw", arch="x86_64", name="curl", version="7.85.0-r0")
    findings, _ = match([package], [wolfi, chainguard])
    assert [(f.id, f.database) for f in findings] == [
        ("CVE-2022-32221", wolfi.source),
        ("CVE-2022-42916", wolfi.source),
        ("CVE-2022-43551", chainguard.source),
        ("CVE-2022-43552", chainguard.source),
    ]
