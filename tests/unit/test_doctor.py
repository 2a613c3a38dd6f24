"""`buildkit doctor`: one row per need; exit 1 with a one-line fix for each failing row."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from rich.console import Console

from buildkit import cli
from buildkit.apk import index_records
from buildkit.commands import doctor
from buildkit.commands.doctor import BinfmtEntry, Probes, parse_binfmt
from buildkit.toolchain import Completed
from tests.helpers.toolchain import AS_RUN, FakeRunner, fail, ok

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
APKO = f"127.0.0.1:5000/buildkit-tools/apko@{D1}"
MELANGE = f"127.0.0.1:5000/buildkit-tools/melange@{D2}"
D3 = "sha256:" + "3" * 64
D4 = "sha256:" + "4" * 64
COSIGN = f"127.0.0.1:5000/buildkit-tools/cosign@{D3}"
CRANE = f"127.0.0.1:5000/buildkit-tools/crane@{D4}"
SERVER = '{"Version":"4.3.1","Components":[{"Name":"Podman Engine"}]}'
BINFMT_OK = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f45\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("APKO_IMAGE", "MELANGE_IMAGE", "COSIGN_IMAGE", "CRANE_IMAGE", "ENGINE",
                 "REGISTRY", "CACHE"):  # fmt: skip
        monkeypatch.delenv(f"BUILDKIT_{name}", raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "buildkit.toml").write_text(
        f'[tools]\napko = "{APKO}"\nmelange = "{MELANGE}"\ncosign = "{COSIGN}"\n'
        f'crane = "{CRANE}"\n'
        '[project]\narchs = ["x86_64", "aarch64"]\n'
    )
    return root


def engine_table(
    *,
    digests: dict[str, str] | None = None,
    uname: str = "aarch64",
    applets: str = doctor.PROBE_OS_RELEASE,
) -> list[tuple[tuple[str, ...], object]]:
    """docker answering as podman; images present with ``digests`` (default: their pins)."""
    have = digests if digests is not None else {APKO: D1, MELANGE: D2, COSIGN: D3, CRANE: D4}

    def inspect(args: tuple[str, ...], log: Path | None) -> Completed:
        ref = args[-1]
        if ref not in have:
            return fail(f"Error: {ref}: No such image")
        return ok(f'["{ref.split("@")[0]}@{have[ref]}"]')

    def run(args: tuple[str, ...], log: Path | None) -> Completed:
        if "uname" in args:
            return ok(uname + "\n")
        if doctor.APPLET_SCRIPT in args:
            return ok(applets)
        if CRANE in args:
            return ok("v0.22.1\n")  # crane prints its version alone
        versions = {APKO: "apko v1.2.39", MELANGE: "melange v0.59.1", COSIGN: "cosign v3.1.3"}
        tool, version = next(v for ref, v in versions.items() if ref in args).split()
        return ok(f"{tool}\n\nGitVersion:    {version}\n")

    return [
        (("docker", "version"), ok(SERVER)),
        (("docker", "image", "inspect"), inspect),
        (("docker", "pull"), fail("Error: pinging container registry 127.0.0.1:5000: refused")),
        (("docker", "run"), run),
        (("docker", "container", "inspect"), AS_RUN),
        (("docker", "container", "rm"), ok()),
        (("docker", "container", "ls"), ok("")),
    ]


def probes(
    tmp_path: Path,
    *,
    table: list[tuple[tuple[str, ...], object]] | None = None,
    present: tuple[str, ...] = ("docker",),
    binfmt: str | None = BINFMT_OK,
    registry: int | Exception = 200,
    busybox: bool = True,
) -> Probes:
    binfmt_dir = tmp_path / "binfmt_misc"
    binfmt_dir.mkdir(exist_ok=True)
    if binfmt is not None:
        (binfmt_dir / "qemu-aarch64").write_text(binfmt)
    env = {"DOCKER_HOST": "unix:///run/buildkit/podman.sock"}
    if busybox:
        (tmp_path / "busybox-arm64").write_bytes(b"\x7fELF")
        env["BUILDKIT_BUSYBOX_ARM64"] = str(tmp_path / "busybox-arm64")

    def http_status(url: str) -> int:
        assert url == "http://127.0.0.1:5000/v2/"
        if isinstance(registry, Exception):
            raise registry
        return registry

    return Probes(
        runner=FakeRunner(table if table is not None else engine_table()),  # type: ignore[arg-type]
        which=lambda name: name if name in present else None,
        binfmt_dir=binfmt_dir,
        http_status=http_status,
        env=env,
        machine="x86_64",
    )


def run_doctor(project: Path, fake: Probes, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setattr(doctor, "Probes", lambda: fake)
    return cli.main(["-C", str(project), "doctor", *extra])


def test_a_ready_machine_passes_and_shows_versions_and_digests(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_doctor(project, probes(tmp_path), monkeypatch) == 0
    out, err = capsys.readouterr()
    text = " ".join(out.split())
    for expected in (
        "Podman Engine 4.3.1",
        "apko v1.2.39",
        "melange v0.59.1",
        "cosign v3.1.3",
        "crane v0.22.1",
        "native",
        "uname -m: aarch64",
        "sh -c 'sleep 0 && cat /etc/os-release' printed the file",
        "answers 200",
    ):
        assert expected in text
    assert err == ""


def test_the_index_parser_row_says_which_parser_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = doctor.check_index_parser()
    assert compiled.ok is True
    assert compiled.detail.startswith("compiled (")
    assert "_native_index" in compiled.detail
    monkeypatch.setattr(index_records, "_NATIVE", None)
    fallback = doctor.check_index_parser()
    assert fallback.ok is None  # informational: the same records, only slower
    assert fallback.detail.startswith("pure Python: the C parser was not built")
    assert "gcc" in fallback.fix


def _failure_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("buildkit: doctor: ")]


@pytest.mark.parametrize(
    ("kw", "extra", "expected"),
    [
        pytest.param(
            {"present": ()},
            (),
            "buildkit: doctor: engine: no container engine: docker and podman are not on PATH "
            "(install podman or docker (scripts/setup installs podman and starts it))",
            id="no engine",
        ),
        pytest.param(
            {
                "table": [
                    (
                        ("docker", "version"),
                        fail(
                            "Cannot connect to the Docker daemon at "
                            "unix:///run/buildkit/podman.sock. Is the docker daemon running?"
                        ),
                    )
                ]
            },
            (),
            "buildkit: doctor: engine: docker does not answer at "
            "unix:///run/buildkit/podman.sock: Cannot connect to the Docker daemon at "
            "unix:///run/buildkit/podman.sock. Is the docker daemon running? (start it, run "
            "scripts/setup, or set DOCKER_HOST "
            "(source ~/.cache/buildkit/env))",
            id="engine not answering",
        ),
        pytest.param(
            {"table": engine_table(digests={APKO: D2, MELANGE: D2})},
            (),
            "buildkit: doctor: apko image: image 127.0.0.1:5000/buildkit-tools/apko is present "
            f"with digest {D2}, not the pinned {D1} (remove the local copy and pull again, or fix "
            "the pin for 127.0.0.1:5000/buildkit-tools/apko)",
            id="digest mismatch",
        ),
        pytest.param(
            {"table": engine_table(digests={APKO: D1})},
            ("--offline",),
            f"buildkit: doctor: melange image: image {MELANGE} is not present and offline mode "
            f"forbids pulling it (pull it while online (docker pull {MELANGE}) or run "
            "scripts/setup)",
            id="image missing offline",
        ),
        pytest.param(
            {"table": engine_table(digests={APKO: D1})},
            (),
            f"buildkit: doctor: melange image: cannot pull {MELANGE}: pinging container registry "
            "127.0.0.1:5000: refused (check that the registry is reachable (scripts/setup serves "
            "127.0.0.1:5000) and the pin in buildkit.toml or BUILDKIT_*_IMAGE)",
            id="image cannot be pulled",
        ),
        pytest.param(
            {"binfmt": None},
            (),
            "buildkit: doctor: emulation arm64: {binfmt}/qemu-aarch64 is not registered "
            "(run scripts/setup (registers qemu-aarch64-static with the flags POCF))",
            id="no binfmt",
        ),
        pytest.param(
            {"binfmt": "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n"},
            (),
            "buildkit: doctor: emulation arm64: {binfmt}/qemu-aarch64 is disabled "
            "(run scripts/setup (registers qemu-aarch64-static with the flags POCF))",
            id="binfmt disabled",
        ),
        pytest.param(
            {"binfmt": "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: \n"},
            (),
            "buildkit: doctor: emulation arm64: {binfmt}/qemu-aarch64 lacks the F flag: containers "
            "cannot find /usr/bin/qemu-aarch64 (run scripts/setup (registers qemu-aarch64-static "
            "with the flags POCF))",
            id="binfmt without F",
        ),
        pytest.param(
            {"table": engine_table(uname="x86_64")},
            (),
            "buildkit: doctor: arm64 in a container: uname -m said 'x86_64' (run scripts/setup)",
            id="emulation not working in a container",
        ),
        pytest.param(
            # Registered without P: `sleep 0` runs as `sh 0`.
            {"table": engine_table(applets="/.buildkit/bin/sh: can't open '0'\n")},
            (),
            "buildkit: doctor: arm64 applets: sh -c 'sleep 0 && cat /etc/os-release' printed "
            "\"/.buildkit/bin/sh: can't open '0'\", not the file (run scripts/setup (it registers "
            "qemu-aarch64-static with the flags POCF: P keeps the name a multi-call binary is "
            "called by); see docs/troubleshooting.md, 'Emulation')",
            id="applets by bare name broken under emulation",
        ),
        pytest.param(
            {"registry": urllib.error.URLError("[Errno 111] Connection refused")},
            (),
            "buildkit: doctor: registry: http://127.0.0.1:5000/v2/: [Errno 111] Connection refused "
            "(start the registry (run scripts/setup serves 127.0.0.1:5000) or set "
            "BUILDKIT_REGISTRY)",
            id="registry down",
        ),
        pytest.param(
            {"registry": 404},
            (),
            "buildkit: doctor: registry: http://127.0.0.1:5000/v2/ answers 404 "
            "(start the registry (run scripts/setup serves 127.0.0.1:5000) or set "
            "BUILDKIT_REGISTRY)",
            id="not a registry",
        ),
    ],
)
def test_each_missing_need_fails_with_a_one_line_fix(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kw: dict[str, object],
    extra: tuple[str, ...],
    expected: str,
) -> None:
    code = run_doctor(project, probes(tmp_path, **kw), monkeypatch, *extra)  # type: ignore[arg-type]
    assert code == 1
    lines = _failure_lines(capsys.readouterr().err)
    assert expected.format(binfmt=tmp_path / "binfmt_misc") in lines


def test_without_an_engine_the_image_rows_are_not_checked_but_still_parsed(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_doctor(project, probes(tmp_path, present=()), monkeypatch) == 1
    lines = _failure_lines(capsys.readouterr().err)
    assert [line.split(":")[2].strip() for line in lines] == ["engine"]


def test_an_unpinned_tool_image_fails_its_row(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BUILDKIT_APKO_IMAGE", "127.0.0.1:5000/buildkit-tools/apko:v1.2.39")
    assert run_doctor(project, probes(tmp_path), monkeypatch) == 1
    lines = _failure_lines(capsys.readouterr().err)
    assert lines == [
        "buildkit: doctor: apko image: image 127.0.0.1:5000/buildkit-tools/apko:v1.2.39 is not "
        "pinned by digest (pin it as 127.0.0.1:5000/buildkit-tools/apko@sha256:<digest> or pass "
        "--allow-unpinned)"
    ]


def test_missing_static_busybox_skips_the_container_emulation_row(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_doctor(project, probes(tmp_path, busybox=False), monkeypatch) == 0
    assert "BUILDKIT_BUSYBOX_ARM64" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        (
            BINFMT_OK,
            BinfmtEntry(enabled=True, interpreter="/usr/bin/qemu-aarch64-static", flags="F"),
        ),
        (
            "disabled\ninterpreter /q\nflags: OCF\n",
            BinfmtEntry(enabled=False, interpreter="/q", flags="OCF"),
        ),
        ("", BinfmtEntry(enabled=False, interpreter="", flags="")),
    ],
)
def test_parse_binfmt(text: str, entry: BinfmtEntry) -> None:
    assert parse_binfmt(text) == entry


def test_the_table_fits_80_columns_wrapping_cells_not_rows() -> None:

    digest = "sha256:" + "ab" * 32
    checks = [
        doctor.Check(
            name="engine",
            ok=True,
            detail="docker via DOCKER_HOST=unix:///run/buildkit/podman.sock: Podman Engine "
            "4.3.1 (its `run --rm` loses exit codes: buildkit names and removes containers)",
        ),
        doctor.Check(
            name="melange image",
            ok=False,
            detail=f"image 127.0.0.1:5000/buildkit-tools/melange@{digest} is not present",
            fix=f"pull it while online (podman pull 127.0.0.1:5000/t/melange@{digest})",
        ),
        doctor.Check(name="arm64 in a container", ok=True, detail="uname -m: aarch64"),
    ]
    console = Console(width=80, record=True, color_system=None)
    console.print(doctor.render(checks))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    # one row per check: each name starts exactly one line, in the first column, unbroken
    for check in checks:
        assert sum(line.startswith(f"  {check.name} ") for line in lines) == 1
    assert "ab" * 32 not in text.replace("\n", "")  # digests are cut to 12 hex digits
    assert any(line.split()[:1] == ["fix:"] or " fix: " in line for line in lines)
