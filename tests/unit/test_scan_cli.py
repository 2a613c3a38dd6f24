"""`buildkit scan`, `show`, `lock --outdated` and the lock change table's fixed ids, on a small
signed repository; database fetching through the revalidating cache; bad input."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

import buildkit.commands.build
from buildkit import ui
from buildkit.actions.records import ImageRecord, ImageSummary
from buildkit.cli import main
from buildkit.errors import FetchError, SecDbError
from buildkit.events import BaseReporter
from buildkit.project.config import load_project
from buildkit.repo import HttpFetcher, RetryPolicy
from buildkit.scan.ignore import apply_ignores, parse_ignores
from buildkit.scan.match import Finding
from buildkit.store import Blob, Store
from buildkit.usecases.building import BuildResult
from buildkit.usecases.locking import LockOptions, lock_project
from buildkit.usecases.scan_sources import DatabaseLoader, database_for
from tests.helpers.http_server import FakeServer, Served
from tests.helpers.records import image_inputs
from tests.helpers.repos import Pkg, make_repo

SECDB = Path(__file__).resolve().parents[1] / "fixtures" / "secdb"
DB = {
    "reponame": "repo",
    "packages": [
        {
            "pkg": {
                "name": "lib",
                "secfixes": {
                    "0": ["CVE-2020-0001"],
                    "1.1-r0": ["CVE-2024-0001", "GHSA-aaaa-bbbb-cccc"],
                },
            }
        },
        {"pkg": {"name": "tool", "secfixes": {"0.9-r0": ["CVE-2019-0002"]}}},
    ],
}
TODAY = dt.date.today()


def _framework(root: Path, packages: list[str]) -> None:
    listed = "".join(f"    - {p}\n" for p in packages)
    (root / "frameworks").mkdir(parents=True, exist_ok=True)
    (root / "frameworks" / "demo.yaml").write_text(
        "contents:\n  keyring:\n    - ./keys/test.rsa.pub\n  repositories:\n    - ./repo\n"
        f"  packages:\n{listed}entrypoint:\n  command: /bin/sh\n"
    )


@pytest.fixture
def project(tmp_path: Path, signing_key, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "project"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "test.rsa.pub").write_bytes(signing_key.public_pem)
    make_repo(
        root / "repo",
        "x86_64",
        [Pkg("lib", "1.0-r0"), Pkg("app", "1.0-r0", depends=("lib",)), Pkg("tool", "1.0-r0")],
        signing_key,
    )
    _framework(root, ["app", "tool"])
    (root / "buildkit.toml").write_text(
        '[project]\narchs = ["x86_64"]\n[scan.databases]\n"./repo" = "secdb.json"\n'
    )
    (root / "secdb.json").write_text(json.dumps(DB))
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(root)
    monkeypatch.setattr(ui.out, "_width", 200)  # tables on one line each
    lock_project(load_project(root), LockOptions(parallel=False))
    return root


def _ignore(root: Path, expires: str, vuln: str = "CVE-2024-0001") -> None:
    (root / ".buildkit-scan-ignore.toml").write_text(
        f'[[ignore]]\nid = "{vuln}"\npackage = "lib"\nreason = "not reachable"\n'
        f"expires = {expires}\n"
    )


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_prints_a_table_of_findings_per_framework_and_arch(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = _scan(capsys)
    assert code == 0  # --fail-on none by default
    assert "CVE-2024-0001" in out
    assert "GHSA-aaaa-bbbb-cccc" in out
    assert "CVE-2020-0001" not in out  # "0": never affected
    assert "CVE-2019-0002" not in out  # tool 1.0-r0 is past 0.9-r0
    assert f"database {project / 'secdb.json'}: 4 secfix id(s)" in out
    assert "2 finding(s) in 3 package(s)" in out


def test_fail_on_any_exits_1_when_findings_remain(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _scan(capsys, "--fail-on", "any")
    assert code == 1
    assert "2 finding(s) at or above --fail-on any" in err


def test_fail_on_fixable_counts_fixes_the_repositories_offer(
    project: Path,
    signing_key,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _err = _scan(capsys, "--fail-on", "fixable")
    assert code == 0  # 1.1-r0 is not in the repository yet: nothing lock --update could do
    assert "1.1-r0 *" in out
    assert "do not offer the fixed version yet" in out
    packages = [Pkg("lib", "1.0-r0"), Pkg("lib", "1.1-r0"), Pkg("app", "1.0-r0", depends=("lib",))]
    make_repo(project / "repo", "x86_64", [*packages, Pkg("tool", "1.0-r0")], signing_key)
    code, out, err = _scan(capsys, "--fail-on", "fixable", "--format", "json")
    assert code == 1
    assert [f["fix_available"] for f in json.loads(out)["findings"]] == [True, True]
    assert "2 finding(s) at or above --fail-on fixable" in err


def test_json_report_is_canonical_and_complete(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _scan(capsys, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert [
        (f["package"], f["version"], f["id"], f["fixed_in"], f["arch"]) for f in report["findings"]
    ] == [
        ("lib", "1.0-r0", "CVE-2024-0001", "1.1-r0", "x86_64"),
        ("lib", "1.0-r0", "GHSA-aaaa-bbbb-cccc", "1.1-r0", "x86_64"),
    ]
    assert report["findings"][0]["location"] == "lockfiles/demo.lock.json"
    assert _scan(capsys, "--format", "json")[1] == out


def test_sarif_report_has_rules_results_and_locations(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, _ = _scan(capsys, "--format", "sarif", "-o", "scan.sarif", "--fail-on", "any")
    assert code == 1
    sarif = json.loads((project / "scan.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "CVE-2024-0001",
        "GHSA-aaaa-bbbb-cccc",
    ]
    result = run["results"][0]
    assert result["level"] == "error"
    assert (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "lockfiles/demo.lock.json"
    )
    assert (
        run["tool"]["driver"]["rules"][1]["helpUri"]
        == "https://github.com/advisories/GHSA-aaaa-bbbb-cccc"
    )


def test_an_ignore_hides_its_finding_until_it_expires(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ignore(project, (TODAY + dt.timedelta(days=30)).isoformat())
    _code, out, _ = _scan(capsys, "--format", "json")
    report = json.loads(out)
    assert [f["id"] for f in report["findings"]] == ["GHSA-aaaa-bbbb-cccc"]
    assert [f["id"] for f in report["ignored"]] == ["CVE-2024-0001"]

    _ignore(project, (TODAY - dt.timedelta(days=1)).isoformat())
    _code, out, err = _scan(capsys, "--format", "json")
    report = json.loads(out)
    assert [f["id"] for f in report["findings"]] == ["CVE-2024-0001", "GHSA-aaaa-bbbb-cccc"]
    assert "expired on" in err
    assert "the finding is shown again" in err


def test_ignores_export_as_openvex(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ignore(project, "2999-01-01")
    assert _scan(capsys, "--vex", "vex.json")[0] == 0
    _ignore(project, "2999-01-01", vuln="CVE-1999-0001")
    assert "ignore of CVE-1999-0001 in lib matches no finding; remove it" in _scan(capsys)[2]
    _ignore(project, "2999-01-01")
    vex = json.loads((project / "vex.json").read_text())
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    [statement] = vex["statements"]
    assert statement["vulnerability"] == {"name": "CVE-2024-0001"}
    assert statement["status"] == "not_affected"


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ('"2026-13-01"', "expires '2026-13-01' is not a date"),
        ('"next year"', "expires 'next year' is not a date"),
        ("12", "expires 12 is not a date"),
    ],
)
def test_an_ignore_with_a_bad_date_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], expires: str, message: str
) -> None:
    _ignore(project, expires)
    code, out, err = _scan(capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert ".buildkit-scan-ignore.toml: ignore[0]: " + message in err
    assert "YYYY-MM-DD" in err


def test_ignore_rules_need_every_field() -> None:
    with pytest.raises(SecDbError, match="missing reason"):
        parse_ignores(b'[[ignore]]\nid = "X"\npackage = "p"\nexpires = 2030-01-01\n', where="f")
    rules = parse_ignores(
        b'[[ignore]]\nid = "X"\npackage = "o"\nreason = "r"\nexpires = 2030-01-01\n', where="f"
    )
    finding = Finding(
        framework="f", arch="a", package="p", version="1", id="X", fixed_in="2", origin="o"
    )
    assert apply_ignores([finding], rules, today=dt.date(2030, 1, 1)).hidden  # the last day counts
    assert apply_ignores([finding], rules, today=dt.date(2030, 1, 2)).shown == (finding,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "malformed JSON"),
        ('{"reponame": "x"}', 'unknown format: no "packages" list'),
    ],
)
def test_a_bad_database_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (project / "secdb.json").write_text(content)
    code, _out, err = _scan(capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert message in err
    assert "secdb.json" in err


def test_scan_an_spdx_sbom_with_a_database(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbom = tmp_path / "sbom-x86_64.spdx.json"
    sbom.write_text(
        json.dumps(
            {
                "spdxVersion": "SPDX-2.3",
                "packages": [
                    {"name": "sbom-root", "externalRefs": []},
                    {
                        "name": "libcrypto3",
                        "versionInfo": "3.0.7-r0",
                        "externalRefs": [
                            {
                                "referenceCategory": "PACKAGE_MANAGER",
                                "referenceType": "purl",
                                "referenceLocator": "pkg:apk/wolfi/libcrypto3@3.0.7-r0"
                                "?arch=x86_64&origin=openssl",
                            }
                        ],
                    },
                ],
            }
        )
    )
    code, out, _ = _scan(
        capsys, str(sbom), "--db", str(SECDB / "chainguard-security.json"), "--format", "json"
    )
    assert code == 0
    report = json.loads(out)
    ids = [f["id"] for f in report["findings"]]
    assert "CVE-2022-3996" in ids
    assert "CVE-2022-3602" not in ids
    assert {f["framework"] for f in report["findings"]} == {"sbom-x86_64"}


def test_show_lists_locked_packages_with_licence_and_size(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "demo", "--arch", "amd64"]) == 0
    out = capsys.readouterr().out
    assert "lib" in out
    assert "1.0-r0" in out
    assert "MIT" in out
    assert "demo x86_64: 3 packages; not built (nox -s build)" in out


def test_lock_update_shows_the_ids_the_upgrade_fixes(
    project: Path,
    signing_key,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    make_repo(
        project / "repo",
        "x86_64",
        [
            Pkg("lib", "1.0-r0"),
            Pkg("lib", "1.1-r0"),
            Pkg("app", "1.0-r0", depends=("lib",)),
            Pkg("tool", "1.0-r0"),
        ],
        signing_key,
    )
    assert main(["lock", "--outdated"]) == 0
    out = capsys.readouterr().out
    assert "outdated packages" in out
    assert "1.1-r0" in out
    assert "CVE-2024-0001" in out
    assert "1 locked package(s) have newer versions" in out
    assert main(["lock", "--update", "lib"]) == 0
    out = capsys.readouterr().out
    assert "1.0-r0 -> 1.1-r0 (upgraded)" in out
    assert "CVE-2024-0001, GHSA-aaaa-bbbb-cccc" in out
    code, out, _ = _scan(capsys, "--fail-on", "any")
    assert code == 0
    assert "0 finding(s)" in out


# --------------------------------------------------------------------------------------------
# Fetching databases


class _Notes(BaseReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def _loader(project: Path, reporter: BaseReporter | None = None) -> DatabaseLoader:
    fetcher = HttpFetcher(RetryPolicy(attempts=2, backoff=0, timeout=5), sleep=lambda _s: None)
    return DatabaseLoader(load_project(project), fetcher=fetcher, reporter=reporter)


def test_a_remote_database_is_cached_and_revalidated(project: Path, server: FakeServer) -> None:
    body = (SECDB / "wolfi-security.json").read_bytes()
    server.files["/os/security.json"] = Served(
        body, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"
    )
    url = f"{server.url}/os/security.json"
    first = _loader(project).load(url)
    second = _loader(project).load(url)
    assert server.requests[1][1]["If-None-Match"] == '"v1"'
    assert first.db == second.db
    assert len(first.db.packages) == 27
    assert first.info.age.endswith(" d")
    assert not first.info.stale


def test_a_database_that_is_down_is_served_from_the_cache_with_a_warning(
    project: Path, server: FakeServer
) -> None:
    server.files["/os/security.json"] = Served(json.dumps(DB).encode(), etag='"v1"')
    url = f"{server.url}/os/security.json"
    _loader(project).load(url)
    server.failures += [503, 503]
    notes = _Notes()
    loaded = _loader(project, notes).load(url)
    assert loaded.info.stale
    assert len(loaded.db.packages) == 2
    assert any("using the cached copy" in note for note in notes.lines)


def test_a_database_that_is_down_without_a_cache_is_an_error(
    project: Path, server: FakeServer
) -> None:
    server.failures += [503, 503]
    with pytest.raises(FetchError, match="security database unavailable and not cached"):
        _loader(project).load(f"{server.url}/os/security.json")


def test_a_malformed_download_leaves_the_cached_copy_intact(
    project: Path, server: FakeServer
) -> None:
    good = json.dumps(DB).encode()
    server.files["/os/security.json"] = Served(good, etag='"v1"')
    url = f"{server.url}/os/security.json"
    _loader(project).load(url)
    server.files["/os/security.json"] = Served(b"{broken", etag='"v2"')
    with pytest.raises(SecDbError, match="malformed JSON"):
        _loader(project).load(url)
    cached = DatabaseLoader(load_project(project))._cache.cached(url)
    assert cached is not None
    assert cached[0] == good


def test_scan_through_a_down_server_uses_the_cache(
    project: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["/db.json"] = Served(json.dumps(DB).encode())
    toml = project / "buildkit.toml"
    toml.write_text(toml.read_text().replace('"secdb.json"', f'"{server.url}/db.json"'))
    assert _scan(capsys)[0] == 0
    server.files.clear()  # now every request fails (404 is not retried: a permanent answer)
    server.failures += [503] * 10
    code, out, err = _scan(capsys)
    assert code == 0
    assert "served from cache" in out
    assert "warning:" in err


@pytest.mark.parametrize(
    ("repository", "database"),
    [
        ("https://packages.wolfi.dev/os", "https://packages.wolfi.dev/os/security.json"),
        (
            "https://dl-cdn.alpinelinux.org/alpine/v3.19/main",
            "https://secdb.alpinelinux.org/v3.19/main.json",
        ),
        (
            "https://mirror.example/pub/alpine/edge/community",
            "https://secdb.alpinelinux.org/edge/community.json",
        ),
        ("./packages", None),
    ],
)
def test_known_database_defaults(repository: str, database: str | None) -> None:
    assert database_for(repository, ()) == database
    assert database_for(repository, ((repository, "mine.json"),)) == "mine.json"


# The digests of the upstream files (anchore/vunnel 42a1d42, tests/fixtures/README.md): the
# copies in tests/fixtures/secdb are byte for byte those files, never edited.
SECDB_SHA256 = {
    "alpine-v3.15-main.yaml": "5a1be5e664153603c4b844c87561451261468bfc873041d4e0dc81e15fc2e876",
    "chainguard-security.json": "36c74924e8143f97ed5c85f96867c69c65a99480e2094b71f6e0ac745491a4d6",
    "wolfi-security.json": "75338931e200b8fe1dc310942e10b107544ac725a117a86c13a870dfbcd07e5a",
}


@pytest.mark.parametrize(("name", "digest"), sorted(SECDB_SHA256.items()))
def test_a_security_database_fixture_is_the_upstream_file_unedited(name: str, digest: str) -> None:
    assert hashlib.sha256((SECDB / name).read_bytes()).hexdigest() == digest


def test_a_database_down_without_a_cache_is_one_line_and_exit_1(
    project: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = project / "buildkit.toml"
    toml.write_text(toml.read_text().replace('"secdb.json"', f'"{server.url}/db.json"'))
    server.failures += [503] * 10
    code, out, err = _scan(capsys)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert f"{server.url}/db.json: security database unavailable and not cached" in err
    assert not list((project.parent / "cache" / "secdb").glob("*"))


def test_an_unknown_database_format_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "secdb.json").write_bytes(b"\x1f\x8b\x08\x00 not a database")
    code, _out, err = _scan(capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "unknown format" in err


def test_show_and_the_build_summary_give_a_built_images_size(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    digest = "sha256:" + "a" * 64
    record = ImageRecord(
        framework="demo",
        arch="x86_64",
        action_key="b" * 64,
        inputs=image_inputs(),
        source_date_epoch=0,
        tarball=Blob(digest=digest, size=5_000_000),
        sboms={},
        image=ImageSummary(
            tag="127.0.0.1:5000/buildkit/demo:latest-amd64",
            platform="linux/amd64",
            manifest_digest="sha256:" + "c" * 64,
            config_digest=digest,
            diff_ids=(digest,),
            layers=(
                Blob(digest=digest, size=3 * 1024 * 1024),
                Blob(digest=digest, size=512 * 1024),
            ),
        ),
    )
    store = Store(project / "dist")
    store.write_record(store.record_path("demo", "x86_64.json"), record.to_dict())
    assert main(["show", "demo"]) == 0
    out = capsys.readouterr().out
    assert f"demo x86_64: 3 packages; image 3.5 MiB, sha256:{'c' * 64}" in out

    # The build summary says the same: size and package count per image.

    def built(*_args: object, **_kwargs: object) -> BuildResult:
        return BuildResult(packages=(), images=(record,), tool_seconds=0.0)

    monkeypatch.setattr(buildkit.commands.build, "build_project", built)
    assert main(["build"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(", 3.5 MiB, 3 packages (built)")
