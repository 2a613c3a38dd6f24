"""Generate the "Wolfi-shaped" bootstrap repository that scripts/setup serves on :8040/os.

This project's machines cannot reach Wolfi, so the packages the demo image and melange's build
environment need (a shell and a base layout) come from here, made with buildkit's own
``apk pack`` and ``apk index`` verbs and served over HTTP, so that locking and building take the
same code path as with the real Wolfi repository:

    www/os/buildkit-bootstrap.rsa.pub
    www/os/<arch>/APKINDEX.tar.gz
    www/os/<arch>/busybox-<version>.apk               static busybox from Debian
    www/os/<arch>/busybox-<older>.apk                 the same binary under an older version
    www/os/<arch>/buildkit-baselayout-<version>.apk   /etc/passwd, /etc/os-release, /tmp, ...
    www/os/security.json                              the repository's security database

The older busybox and the security database make the scan demo: the database (Wolfi's
``security.json`` format) says that ``DEMO_ID`` is fixed in the current busybox, so a lock
pinned to the older one has a finding, and ``lock --update busybox`` fixes it.

Deterministic: a fixed SOURCE_DATE_EPOCH and deterministic packing give the same bytes on
every run with the same inputs and key. The signing key is made once per machine and stays in
the cache (never in the repository). When the inputs' digest matches the stamp, nothing runs.

Usage: bootstrap_repo.py --cache DIR --busybox x86_64=PATH --busybox aarch64=PATH
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildkit.apk.keys import generate_keypair
from buildkit.apk.version import parse_version

SOURCE_DATE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z; the packages' mtimes and builddate
KEY_NAME = "buildkit-bootstrap.rsa"
BASELAYOUT = "buildkit-baselayout"
BASELAYOUT_VERSION = "1-r0"  # bump whenever _baselayout_files changes
DESCRIPTION = "buildkit bootstrap repository"
SECDB_NAME = "security.json"
# A real busybox id (ash), used here as the demo's statement about its own two versions.
DEMO_ID = "CVE-2022-48174"
# The brief's "common" applets: what package scripts and a debug shell use. Only those the
# Debian build has are linked (it has no `install`).
APPLETS = frozenset(
    {
        *("sh", "ash", "echo", "cat", "ls", "mkdir", "rm", "rmdir", "cp", "mv", "ln", "chmod"),
        *("chown", "env", "true", "false", "test", "[", "printf", "sed", "grep", "egrep"),
        *("fgrep", "awk", "tar", "gzip", "gunzip", "zcat", "find", "xargs", "install", "sort"),
        *("uniq", "head", "tail", "wc", "tr", "cut", "id", "whoami", "uname", "sleep", "date"),
        *("touch", "basename", "dirname", "readlink", "realpath", "mktemp", "stat", "pwd"),
        *("tee", "which", "expr", "seq", "cmp", "diff", "sha256sum", "du", "df", "kill", "ps"),
        *("nproc", "hostname"),
    }
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _say(message: str) -> None:
    print(f"setup: {'bootstrap:':<10} {message}", flush=True)


def apk_version_from_debian(debian: str) -> str:
    """``1:1.35.0-4+deb12u1+b1`` -> ``1.35.0-r4``: epoch dropped, Debian revision -> ``-rN``."""
    text = debian.strip().split(":", 1)[-1]
    upstream, _, revision = text.rpartition("-") if "-" in text else (text, "", "0")
    numbers = re.match(r"[0-9]+(\.[0-9]+)*", upstream)  # "1.2+dfsg" -> "1.2"
    release = re.match(r"[0-9]+", revision)
    if numbers is None:
        raise SystemExit(f"bootstrap: cannot make an apk version of Debian version {debian!r}")
    return f"{numbers.group(0)}-r{int(release.group(0)) if release else 0}"


def older_version(version: str) -> str:
    """The demo's older busybox: ``1.35.0-r4`` -> ``1.35.0-r3``; ``1.35.0-r0`` ->
    ``1.35.0_rc1-r0`` (a pre-release sorts before its release)."""
    upstream, _, release = version.rpartition("-r")
    if int(release) > 0:
        return f"{upstream}-r{int(release) - 1}"
    return f"{upstream}_rc1-r0"


def security_database(fixed: str, archs: Sequence[str]) -> bytes:
    """The repository's security database (Wolfi's security.json format), canonical JSON."""
    document = {
        "apkurl": "{{urlprefix}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
        "archs": sorted(archs),
        "reponame": "os",
        "urlprefix": "http://127.0.0.1:8040",
        "packages": [
            {"pkg": {"name": BASELAYOUT, "secfixes": {"0": []}}},
            {"pkg": {"name": "busybox", "secfixes": {fixed: [DEMO_ID]}}},
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _digest(paths: Iterable[Path], extra: Sequence[str]) -> str:
    """One digest over the generator's inputs: files by content, plus the given strings."""
    h = hashlib.sha256()
    for item in extra:
        h.update(item.encode() + b"\0")
    for path in paths:  # by name, not full path: another checkout of the same code matches
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _inputs_digest(busybox: dict[str, Path], public_key: Path) -> str:
    # The packer's code is an input too: a fix there must reach the served packages.
    code = sorted((PROJECT_ROOT / "buildkit" / "apk").glob("*.py"))
    files = [Path(__file__).resolve(), public_key, *code]
    for arch in sorted(busybox):
        files += [busybox[arch], busybox[arch].parent.parent / "DEBIAN_VERSION"]
    return _digest(files, sorted(busybox))


def _ensure_key(keys_dir: Path) -> Path:
    private = keys_dir / KEY_NAME
    if not private.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        generate_keypair(private)
        _say(f"generated signing key {private} (stays on this machine)")
    return private


def _applet_paths(busybox: Path) -> list[str]:
    """Canonical applet paths (``bin/sh``, ``usr/bin/env``) of the common applets it has."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    return sorted(p for p in listing if p.rsplit("/", 1)[-1] in APPLETS and p != "bin/busybox")


def _mkdirs(root: Path, names: Iterable[str], mode: int = 0o755) -> None:
    for name in names:
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)  # pack keeps modes: do not let the umask decide them


def _busybox_tree(root: Path, binary: Path, applets: list[str]) -> None:
    _mkdirs(root, ["bin", "sbin", "usr", "usr/bin", "usr/sbin"])
    shutil.copyfile(binary, root / "bin" / "busybox")
    (root / "bin" / "busybox").chmod(0o755)
    for rel in applets:
        (root / rel).symlink_to("/bin/busybox")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _baselayout_tree(root: Path) -> None:
    _mkdirs(root, ["etc", "home", "usr", "var", "var/lib", "var/cache", "var/log", "var/tmp"])
    _mkdirs(root, ["root"], 0o700)
    _mkdirs(root, ["tmp"], 0o1777)
    (root / "var" / "tmp").chmod(0o1777)
    _write(
        root / "etc" / "os-release",
        'ID=buildkit-bootstrap\nNAME="buildkit bootstrap"\n'
        'PRETTY_NAME="buildkit bootstrap (busybox from Debian)"\nVERSION_ID=1\n',
    )
    _write(
        root / "etc" / "passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    _write(root / "etc" / "group", "root:x:0:\nnobody:x:65534:\n")
    _write(
        root / "etc" / "profile",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\numask 022\n",
    )


def _buildkit(args: Sequence[str]) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
    done = subprocess.run(
        [sys.executable, "-m", "buildkit", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bootstrap: `buildkit {' '.join(args[:2])}` failed")


@dataclass(frozen=True, kw_only=True)
class Package:
    """What `buildkit apk pack` needs besides the folder, the arch and the key."""

    name: str
    version: str
    description: str
    license: str
    url: str = ""
    provides: tuple[str, ...] = ()

    def pack_args(self) -> list[str]:
        args = ["--name", self.name, "--version", self.version, "--license", self.license]
        args += ["--description", self.description]
        args += ["--url", self.url] if self.url else []
        return args + [f"--provide={atom}" for atom in self.provides]


def _pack(tree: Path, package: Package, *, arch: str, key: Path, out: Path) -> None:
    where = ["--arch", arch, "--signing-key", str(key), "--output-dir", str(out)]
    _buildkit(["apk", "pack", str(tree), *package.pack_args(), *where])


def _busybox_package(version: str, applets: Iterable[str]) -> Package:
    # Wolfi style: cmd:<applet>=<version> for each applet, so `cmd:sh` resolves to busybox.
    names = sorted({rel.rsplit("/", 1)[-1] for rel in applets})
    return Package(
        name="busybox",
        version=version,
        description="static busybox (Debian busybox-static) with the common applets",
        license="GPL-2.0-only",
        url="https://busybox.net",
        provides=(*(f"cmd:{n}={version}" for n in names), "/bin/sh"),
    )


BASELAYOUT_PACKAGE = Package(
    name=BASELAYOUT,
    version=BASELAYOUT_VERSION,
    description="base files: passwd, group, os-release, profile; /tmp, /root, /home, /var",
    license="Apache-2.0",
)


def _busybox_version(binary: Path) -> str:
    return apk_version_from_debian((binary.parent.parent / "DEBIAN_VERSION").read_text())


def _version_key(version: str) -> object:

    return parse_version(version)


def _build_arch(arch: str, binary: Path, key: Path, work: Path) -> Path:
    """Pack both packages for ARCH and index them; returns the folder holding the results."""
    out = work / arch
    out.mkdir(parents=True)
    version = _busybox_version(binary)
    applets = _applet_paths(binary)
    tree = work / f"tree-busybox-{arch}"
    _busybox_tree(tree, binary, applets)
    _pack(tree, _busybox_package(version, applets), arch=arch, key=key, out=out)
    older = older_version(version)
    _pack(tree, _busybox_package(older, applets), arch=arch, key=key, out=out)
    tree = work / f"tree-baselayout-{arch}"
    _baselayout_tree(tree)
    _pack(tree, BASELAYOUT_PACKAGE, arch=arch, key=key, out=out)
    _buildkit(["apk", "index", str(out), "--signing-key", str(key), "--description", DESCRIPTION])
    return out


def _publish(built: Path, dest: Path) -> None:
    """Move packages into place before the index that names them, then drop stale files.

    Each file is replaced atomically, so the HTTP server never serves half a file; a file
    with the same bytes is left alone, keeping its Last-Modified for clients' revalidation.
    """
    dest.mkdir(parents=True, exist_ok=True)
    fresh = {p.name for p in built.iterdir()}
    for path in [*sorted(built.glob("*.apk")), built / "APKINDEX.tar.gz"]:
        target = dest / path.name
        if not (target.is_file() and target.read_bytes() == path.read_bytes()):
            os.replace(path, target)
    for path in dest.iterdir():
        if path.name not in fresh:
            path.unlink()


def generate(cache: Path, busybox: dict[str, Path]) -> None:
    base = cache / "bootstrap"
    www = base / "www" / "os"
    stamp = base / "stamp"
    key = _ensure_key(base / "keys")
    public = key.with_name(key.name + ".pub")
    digest = _inputs_digest(busybox, public)
    outputs = [www / f"{KEY_NAME}.pub", www / SECDB_NAME]
    outputs += [www / a / "APKINDEX.tar.gz" for a in busybox]
    if stamp.is_file() and stamp.read_text().strip() == digest and all(p.exists() for p in outputs):
        _say(f"ok ({www})")
        return
    www.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=".build-") as tmp:
        served_key = www / f"{KEY_NAME}.pub"
        if not (served_key.is_file() and served_key.read_bytes() == public.read_bytes()):
            shutil.copyfile(public, Path(tmp) / "key.pub")
            os.replace(Path(tmp) / "key.pub", served_key)
        for arch, binary in sorted(busybox.items()):
            _publish(_build_arch(arch, binary, key, Path(tmp)), www / arch)
        versions = [_busybox_version(binary) for binary in busybox.values()]
        fixed = min(versions, key=_version_key)
        (Path(tmp) / SECDB_NAME).write_bytes(security_database(fixed, sorted(busybox)))
        os.replace(Path(tmp) / SECDB_NAME, www / SECDB_NAME)
    stamp.write_text(digest + "\n")
    _say(f"generated {', '.join(sorted(busybox))} in {www}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="the buildkit machine cache")
    parser.add_argument(
        "--busybox", action="append", default=[], metavar="ARCH=PATH", help="static busybox"
    )
    args = parser.parse_args(argv)
    busybox = {}
    for item in args.busybox:
        arch, _, path = item.partition("=")
        busybox[arch] = Path(path).resolve()
    if not busybox:
        parser.error("give --busybox ARCH=PATH at least once")
    generate(args.cache, busybox)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
