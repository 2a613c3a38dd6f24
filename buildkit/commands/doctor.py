"""`buildkit doctor`: is this machine ready to build? One row per need, with how to fix it.

Checks the container engine, each pinned tool image (present or pullable, digest, the version
the tool reports), emulation for every configured arch that is not the host's, the registry,
and (informational) whether the compiled APKINDEX parser is in use. Exits 1 when something
needed is missing; each failing row says what to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from buildkit import ui
from buildkit.apk.arch import normalize_arch, oci_arch
from buildkit.apk.index_records import compiled_parser
from buildkit.errors import BuildkitError
from buildkit.project.config import ProjectConfig, load_project
from buildkit.toolchain import ContainerSpec, Engine, ImageRef, parse_image_ref, run_process
from buildkit.toolchain.engine import Which
from buildkit.toolchain.facade import HELPER_TARGET
from buildkit.toolchain.process import Runner
from buildkit.toolchain.tools import parse_tool_version

SETUP = "run scripts/setup"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_FIX = f"{SETUP} (registers qemu-{{arch}}-static with the flags POCF)"
# Busybox applets called by their bare names, as package scripts and `docker run IMAGE sleep 1`
# call them: under emulation this needs binfmt's P flag (docs/troubleshooting.md).
APPLET_SCRIPT = "sleep 0 && cat /etc/os-release"
APPLET_DIR = "/.buildkit/bin"
PROBE_OS_RELEASE = 'ID=buildkit-doctor\nPRETTY_NAME="buildkit doctor: busybox applets by name"\n'
APPLET_FIX = (
    f"{SETUP} (it registers qemu-{{arch}}-static with the flags POCF: P keeps the name a "
    "multi-call binary is called by); see docs/troubleshooting.md, 'Emulation'"
)


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool | None  # None: not checked (nothing needs it, or a prerequisite failed)
    detail: str
    fix: str = ""


@dataclass(frozen=True, kw_only=True)
class BinfmtEntry:
    enabled: bool
    interpreter: str
    flags: str


def parse_binfmt(text: str) -> BinfmtEntry:
    """Parse a /proc/sys/fs/binfmt_misc/<name> entry."""
    lines = [line.strip() for line in text.splitlines()]
    values = dict(line.split(None, 1) for line in lines if " " in line)
    return BinfmtEntry(
        enabled="enabled" in lines,
        interpreter=values.get("interpreter", ""),
        flags=values.get("flags:", ""),
    )


def _http_status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - http(s) only, built here
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass(frozen=True, kw_only=True)
class Probes:
    """Everything doctor touches outside Python, replaceable in tests."""

    runner: Runner = run_process
    which: Which = shutil.which
    binfmt_dir: Path = BINFMT_DIR
    http_status: Callable[[str], int] = _http_status
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    machine: str = field(default_factory=platform.machine)


def check_engine(config: ProjectConfig, probes: Probes) -> tuple[Check, Engine | None]:
    try:
        engine = Engine.detect(config, runner=probes.runner, which=probes.which, env=probes.env)
    except BuildkitError as err:
        return Check(name="engine", ok=False, detail=err.message, fix=err.hint or SETUP), None
    where = f" via DOCKER_HOST={probes.env['DOCKER_HOST']}" if probes.env.get("DOCKER_HOST") else ""
    detail = f"{engine.name}{where}: {engine.server} {engine.version()}"
    if engine.named_runs:  # see buildkit.toolchain.containers
        detail += " (its `run --rm` loses exit codes: buildkit names and removes containers)"
    return Check(name="engine", ok=True, detail=detail), engine


def check_tool(
    tool: str, text: str, config: ProjectConfig, engine: Engine | None, *, offline: bool
) -> tuple[Check, ImageRef | None]:
    name = f"{tool} image"
    try:
        ref = parse_image_ref(text, config.allow_unpinned)
    except BuildkitError as err:
        return Check(name=name, ok=False, detail=err.message, fix=err.hint or ""), None
    if engine is None:
        return Check(name=name, ok=None, detail=f"{ref} (no engine to check it)"), None
    try:
        engine.ensure_image(ref, offline=offline)
        spec = ContainerSpec(
            image=ref, args=("version",), workdir_mount=config.root, workdir_read_only=True
        )
        version = parse_tool_version(engine.capture(spec))
    except BuildkitError as err:
        return Check(name=name, ok=False, detail=err.message, fix=err.hint or SETUP), None
    pin = "" if ref.pinned else " (UNPINNED)"
    return Check(name=name, ok=True, detail=f"{tool} {version}: {ref}{pin}"), ref


def check_binfmt(arch: str, probes: Probes) -> Check:
    name = f"emulation {oci_arch(arch)}"
    path = probes.binfmt_dir / f"qemu-{arch}"
    fix = BINFMT_FIX.format(arch=arch)
    try:
        entry = parse_binfmt(path.read_text(encoding="utf-8"))
    except OSError:
        return Check(name=name, ok=False, detail=f"{path} is not registered", fix=fix)
    if not entry.enabled:
        return Check(name=name, ok=False, detail=f"{path} is disabled", fix=fix)
    if "F" not in entry.flags:
        # Without F the interpreter is looked up inside each container, where there is none.
        return Check(
            name=name,
            ok=False,
            detail=f"{path} lacks the F flag: containers cannot find {entry.interpreter}",
            fix=fix,
        )
    return Check(name=name, ok=True, detail=f"binfmt {entry.interpreter} (flags {entry.flags})")


def check_container_emulation(
    arch: str, probes: Probes, engine: Engine | None, image: ImageRef | None, root: Path
) -> Check:
    """Run a static binary of ``arch`` inside a tool container, as melange's sandbox will."""
    name = f"{oci_arch(arch)} in a container"
    variable = f"BUILDKIT_BUSYBOX_{oci_arch(arch).upper()}"
    binary = probes.env.get(variable, "")
    if engine is None or image is None:
        return Check(name=name, ok=None, detail="not checked: no engine or tool image")
    if not binary or not Path(binary).is_file():
        return Check(
            name=name, ok=None, detail=f"not checked: {variable} names no static {arch} busybox"
        )
    spec = ContainerSpec(
        image=image,
        args=("uname", "-m"),
        workdir_mount=root,
        workdir_read_only=True,
        extra_mounts=((Path(binary), HELPER_TARGET, True),),
        entrypoint=HELPER_TARGET,
    )
    try:
        machine = engine.capture(spec).strip()
    except BuildkitError as err:
        return Check(name=name, ok=False, detail=err.message, fix=SETUP)
    if machine != arch:
        return Check(name=name, ok=False, detail=f"uname -m said {machine!r}", fix=SETUP)
    return Check(name=name, ok=True, detail=f"uname -m: {machine}")


def check_applets(
    arch: str, probes: Probes, engine: Engine | None, image: ImageRef | None, root: Path
) -> Check:
    """Run ``sh -c 'sleep 0 && cat /etc/os-release'`` with ``arch``'s static busybox, its
    applets reached through symlinks by bare name (as in an image built from APKs), inside a
    tool container. Without binfmt's P flag the applets lose the name they were called by:
    ``sleep 0`` becomes ``sh 0`` ("can't open '0'") and ``cat FILE`` runs FILE as a script."""
    name = f"{oci_arch(arch)} applets"
    variable = f"BUILDKIT_BUSYBOX_{oci_arch(arch).upper()}"
    binary = probes.env.get(variable, "")
    if engine is None or image is None:
        return Check(name=name, ok=None, detail="not checked: no engine or tool image")
    if not binary or not Path(binary).is_file():
        return Check(
            name=name, ok=None, detail=f"not checked: {variable} names no static {arch} busybox"
        )
    with tempfile.TemporaryDirectory(prefix="buildkit-doctor-") as tmp:
        folder = Path(tmp) / "bin"
        folder.mkdir()
        shutil.copyfile(binary, folder / "busybox")
        (folder / "busybox").chmod(0o755)
        for applet in ("sh", "sleep", "cat"):
            (folder / applet).symlink_to("busybox")
        os_release = Path(tmp) / "os-release"
        os_release.write_text(PROBE_OS_RELEASE, encoding="utf-8")
        spec = ContainerSpec(
            image=image,
            args=("-c", APPLET_SCRIPT),
            workdir_mount=root,
            workdir_read_only=True,
            env={"PATH": APPLET_DIR},
            extra_mounts=((folder, APPLET_DIR, True), (os_release, "/etc/os-release", True)),
            entrypoint=f"{APPLET_DIR}/sh",
        )
        try:
            printed = engine.capture(spec)
        except BuildkitError as err:
            return Check(
                name=name,
                ok=False,
                detail=f"sh -c '{APPLET_SCRIPT}' failed: {err.message}",
                fix=APPLET_FIX.format(arch=arch),
            )
    if printed != PROBE_OS_RELEASE:
        said = printed.strip().splitlines()[0] if printed.strip() else "nothing"
        return Check(
            name=name,
            ok=False,
            detail=f"sh -c '{APPLET_SCRIPT}' printed {said!r}, not the file",
            fix=APPLET_FIX.format(arch=arch),
        )
    return Check(name=name, ok=True, detail=f"sh -c '{APPLET_SCRIPT}' printed the file")


def check_registry(config: ProjectConfig, probes: Probes) -> Check:
    scheme = "http" if config.registry_is_insecure() else "https"
    url = f"{scheme}://{config.registry}/v2/"
    fix = f"start the registry ({SETUP} serves 127.0.0.1:5000) or set BUILDKIT_REGISTRY"
    try:
        status = probes.http_status(url)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(name="registry", ok=False, detail=f"{url}: {reason}", fix=fix)
    # 401 is a registry that wants credentials: reachable, and docker login handles the rest.
    if status in (200, 401):
        return Check(name="registry", ok=True, detail=f"{url} answers {status}")
    return Check(name="registry", ok=False, detail=f"{url} answers {status}", fix=fix)


def check_index_parser() -> Check:
    """Whether APKINDEX records are parsed by the compiled parser. Not a failure without it:
    the Python parser gives the same records, only slower."""

    compiled = compiled_parser()
    if compiled is not None:
        return Check(name="index parser", ok=True, detail=f"compiled ({Path(compiled).name})")
    return Check(
        name="index parser",
        ok=None,
        detail="pure Python: the C parser was not built; index loads are 2-3x slower",
        fix="install a C compiler (gcc), then pip install -e . again (scripts/setup does both)",
    )


def collect(config: ProjectConfig, *, offline: bool, probes: Probes) -> list[Check]:
    engine_check, engine = check_engine(config, probes)
    checks = [engine_check]
    images: list[ImageRef | None] = []
    for tool, text in (("apko", config.apko_image), ("melange", config.melange_image)):
        check, ref = check_tool(tool, text, config, engine, offline=offline)
        checks.append(check)
        images.append(ref)
    host = normalize_arch(probes.machine) if probes.machine else ""
    for arch in config.archs:
        if arch == host:
            checks.append(Check(name=f"emulation {oci_arch(arch)}", ok=True, detail="native"))
            continue
        binfmt = check_binfmt(arch, probes)
        checks.append(binfmt)
        if binfmt.ok:
            image = images[1] or images[0]
            checks.append(check_container_emulation(arch, probes, engine, image, config.root))
            checks.append(check_applets(arch, probes, engine, image, config.root))
    checks.append(check_registry(config, probes))
    # publish and verify --published run these two
    for tool, text in (("cosign", config.cosign_image), ("crane", config.crane_image)):
        checks.append(check_tool(tool, text, config, engine, offline=offline)[0])
    checks.append(check_index_parser())
    return checks


_DIGEST = re.compile(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}")


def cell(text: str) -> str:
    """A detail as the table shows it: digests cut to 12 hex digits (a 71-character word
    cannot wrap at 80 columns; the full pin is in buildkit.toml or the environment)."""
    return _DIGEST.sub(r"\1…", text)


def render(checks: list[Check]) -> Table:
    """Fits 80 columns: three columns, the short two never wrap, the details wrap between
    words; how to fix a failing row goes under its details, not into a fourth column."""
    table = Table(title="buildkit doctor", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("details", overflow="fold")
    marks = {True: ("ok", "green"), False: ("FAIL", "bold red"), None: ("-", "yellow")}
    for check in checks:
        label, style = marks[check.ok]
        details = cell(check.detail) + (f"\nfix: {cell(check.fix)}" if check.fix else "")
        table.add_row(check.name, Text(label, style=style), details)
    return table


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="check the engine, tool images, emulation and registry",
        description="Check that this machine can build and publish: container engine, pinned "
        "apko, melange, cosign and crane images (and the versions they report), emulation for "
        "foreign archs, and the registry. Exits 1 when something needed is missing.",
    )
    parser.add_argument("--offline", action="store_true", help="do not pull missing tool images")
    parser.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept tool images without a digest (as buildkit.toml's tools.allow_unpinned)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, probes: Probes | None = None) -> int:
    config = load_project(args.project)
    if args.allow_unpinned:
        config = dataclasses.replace(config, allow_unpinned=True)
    checks = collect(config, offline=args.offline, probes=probes or Probes())
    ui.out.print(render(checks))
    failed = [c for c in checks if c.ok is False]
    for check in failed:  # plain lines too: CI logs and narrow terminals cut tables
        fix = f" ({check.fix})" if check.fix else ""
        ui.err.print(f"buildkit: doctor: {check.name}: {check.detail}{fix}", markup=False)
    return 1 if failed else 0
