"""Generate the runtime repository that scripts/setup serves on 127.0.0.1:8041/os.

The frameworks people come for run a real language runtime. This project's machines cannot reach
Wolfi, so the runtimes come from Debian 12's binary packages (``apt-get download PKG:amd64
PKG:arm64``), unpacked and packed into signed APKs with buildkit's own ``apk pack`` and
``apk index`` verbs, and served over HTTP next to the bootstrap repository:

    www/os/buildkit-runtimes.rsa.pub
    www/os/<arch>/APKINDEX.tar.gz
    www/os/<arch>/<name>-<version>.apk

Each Debian package keeps its name (``libc6``, ``libssl3``, ``python3.11-minimal``,
``openjdk-17-jre-headless``) and its files, less manuals and documentation. Its APK
dependencies mirror Debian's: ``so:`` provides for the shared libraries it carries in the
library folders and ``so:`` depends for every library its ELF files need that it does not carry
itself, plus Debian's package-name dependencies on packages in this repository (Debian's others,
such as the ones only maintainer scripts or optional features use, are left out). Every ``so:``
need is checked to be met inside the repository.

On top come the packages the field frameworks (frameworks/python3-11.yaml, java17.yaml) ask
Wolfi for, made here from the Debian ones: ``wolfi-baselayout``, ``ca-certificates-bundle``
(the Mozilla bundle, as update-ca-certificates writes it), ``java-cacerts`` (the same
certificates as a JKS trust store, as ca-certificates-java writes it), ``glibc-locale-posix``,
``python-3.11``, ``openjdk-17-jre``, ``openjdk-17-default-jvm`` and ``busybox`` (Debian's static
busybox with every applet, plus ``install`` from GNU coreutils, which Debian's busybox lacks).

Downloads are cached in ``<cache>/runtimes/debs/<debian arch>/`` (delete that folder to take
newer Debian versions). Deterministic: fixed SOURCE_DATE_EPOCH, sorted inputs and deterministic
packing give the same bytes for the same .deb files and key. The signing key is made once per
machine and stays in the cache. When the inputs' digest matches the stamp, nothing runs.

Usage: runtime_repo.py --cache DIR
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import platform
import re
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap_repo import _publish as publish_folder
from bootstrap_repo import apk_version_from_debian

from buildkit.apk.keys import generate_keypair

SOURCE_DATE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z, as the bootstrap repository
KEY_NAME = "buildkit-runtimes.rsa"
DESCRIPTION = "buildkit runtime repository (Debian 12 binaries)"
# apk arch -> (Debian arch, multiarch triplet)
ARCHS: Mapping[str, tuple[str, str]] = {
    "x86_64": ("amd64", "x86_64-linux-gnu"),
    "aarch64": ("arm64", "aarch64-linux-gnu"),
}

# The Debian packages, the same list for both arches: glibc and the C++ runtime, CPython 3.11
# with every library its standard library links, OpenJDK 17's headless JRE with the libraries
# its native parts link (fonts, images, colour, sound, smart cards), and what busybox's
# `install` (coreutils) links.
DEBIAN_PACKAGES: tuple[str, ...] = (
    *("libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libssl3", "libexpat1", "libbz2-1.0"),
    *("libcrypt1", "libdb5.3", "libffi8", "liblzma5", "libncursesw6", "libtinfo6"),
    *("libnsl2", "libreadline8", "libsqlite3-0", "libtirpc3", "libuuid1", "libgssapi-krb5-2"),
    *("libkrb5-3", "libk5crypto3", "libcom-err2", "libkrb5support0", "libkeyutils1"),
    *("media-types", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib"),
    *("openjdk-17-jre-headless", "libjpeg62-turbo", "liblcms2-2", "libfreetype6", "libpng16-16"),
    *("libbrotli1", "libharfbuzz0b", "libglib2.0-0", "libgraphite2-3", "libasound2"),
    *("libpcsclite1", "libmount1", "libblkid1", "libselinux1", "libpcre2-8-0"),
    *("libacl1", "libattr1", "ca-certificates", "busybox-static", "coreutils", "libc-bin"),
)
# Debian packages whose content goes into a package of another name, or nowhere on its own.
# Architecture "all": apt names them without an arch qualifier.
ARCH_ALL = frozenset({"media-types", "ca-certificates"})
RENAMED = {"busybox-static": "busybox", "ca-certificates": "ca-certificates-bundle"}
# Only some of their files are used: coreutils' `install` (in busybox), libc-bin's C.UTF-8
# locale (in glibc-locale-posix).
ONLY_FOR_FILES = frozenset({"coreutils", "libc-bin"})
# Paths dropped from every package: manuals, docs (each package's copyright file is kept).
DROPPED = ("usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/bug", "usr/share/doc")
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")
# Java's well-known default trust store password (a trust store holds no secrets).
JKS_PASSWORD = "changeit"  # noqa: S105
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _say(message: str) -> None:
    print(f"setup: {'runtimes:':<10} {message}", flush=True)


class GenerationError(Exception):
    """A step of the generation failed; the message says which and what to do."""


# --------------------------------------------------------------------------------------------
# Pure parts: versions, dependencies, ELF dynamic sections, trust stores


def debian_depends(field_text: str, available: Iterable[str]) -> list[str]:
    """Debian's ``Depends`` as APK names: per clause, the first alternative in ``available``
    (version constraints and arch qualifiers dropped); clauses with none there are left out."""
    present = set(available)
    names: list[str] = []
    for clause in filter(None, (c.strip() for c in field_text.split(","))):
        for alternative in clause.split("|"):
            name = re.split(r"[\s(:\[]", alternative.strip(), maxsplit=1)[0]
            name = RENAMED.get(name, name)
            if name in present:
                names.append(name)
                break
    return sorted(set(names))


def so_version(soname: str) -> str:
    """melange's provide version: ``libc.so.6`` -> ``6``, ``libjvm.so`` -> ``0``."""
    _, _, suffix = soname.partition(".so.")
    return suffix or "0"


@dataclass(frozen=True)
class Dynamic:
    """What an ELF file's dynamic section says: its SONAME and the libraries it needs."""

    soname: str | None
    needed: tuple[str, ...]


_FILE_HEADER = re.compile(r"^File: (.+)$")
_DYNAMIC_ENTRY = re.compile(r"\((NEEDED|SONAME)\)\s+\S+ \S+: \[(.+)\]$")


def parse_readelf(output: str) -> dict[str, Dynamic]:
    """``readelf -dW FILE...`` output -> file -> its dynamic entries (files without a
    dynamic section, such as static binaries, are left out)."""
    found: dict[str, tuple[list[str | None], list[str]]] = {}
    current: str | None = None
    for line in output.splitlines():
        header = _FILE_HEADER.match(line)
        if header:
            current = header.group(1)
            continue
        entry = _DYNAMIC_ENTRY.search(line.strip())
        if entry and current is not None:
            soname, needed = found.setdefault(current, ([None], []))
            if entry.group(1) == "SONAME":
                soname[0] = entry.group(2)
            else:
                needed.append(entry.group(2))
    return {f: Dynamic(soname=s[0], needed=tuple(n)) for f, (s, n) in found.items()}


def ca_bundle(certificates: Iterable[tuple[str, bytes]]) -> bytes:
    """The PEM bundle update-ca-certificates writes: each certificate, by file name."""
    parts = [pem if pem.endswith(b"\n") else pem + b"\n" for _, pem in sorted(certificates)]
    return b"".join(parts)


def _java_utf(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def jks_truststore(certificates: Iterable[tuple[str, bytes]], *, timestamp_ms: int) -> bytes:
    """A JKS trust store (Java's ``cacerts`` format) holding each (alias, DER certificate),
    by alias; every entry dated ``timestamp_ms``, so the same certificates give the same bytes
    (keytool and ca-certificates-java date entries now). Password: ``changeit``."""
    entries = sorted(certificates)
    body = bytearray(struct.pack(">III", 0xFEEDFEED, 2, len(entries)))
    for alias, der in entries:
        body += struct.pack(">I", 2)  # a trusted certificate entry
        body += _java_utf(alias) + struct.pack(">Q", timestamp_ms) + _java_utf("X.509")
        body += struct.pack(">I", len(der)) + der
    # The integrity check: SHA-1 over the password (UTF-16BE), a fixed phrase and the body.
    check = hashlib.sha1(
        JKS_PASSWORD.encode("utf-16-be") + b"Mighty Aphrodite" + body, usedforsecurity=False
    )
    return bytes(body) + check.digest()


def mozilla_certificates(root: Path) -> list[tuple[str, bytes]]:
    """(file name, PEM) of the certificates Debian's ca-certificates ships."""
    folder = root / "usr" / "share" / "ca-certificates" / "mozilla"
    found = [(path.name, path.read_bytes()) for path in sorted(folder.glob("*.crt"))]
    if not found:
        raise GenerationError(f"no certificates under {folder}: ca-certificates changed shape")
    return found


def jks_alias(file_name: str) -> str:
    """ca-certificates-java's alias: ``debian:<file name>`` in lower case, ASCII only."""
    name = file_name.removesuffix(".crt").lower() + ".pem"
    return "debian:" + name.encode("ascii", "replace").decode("ascii")


# --------------------------------------------------------------------------------------------
# Packages


@dataclass(frozen=True, kw_only=True)
class Package:
    """One APK to pack: a folder and what `buildkit apk pack` needs besides it."""

    name: str
    version: str
    description: str
    license: str
    tree: Path
    url: str = ""
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()

    def pack_args(self) -> list[str]:
        args = ["--name", self.name, "--version", self.version, "--license", self.license]
        args += ["--description", self.description]
        args += ["--url", self.url] if self.url else []
        args += [f"--depend={atom}" for atom in self.depends]
        return args + [f"--provide={atom}" for atom in self.provides]


@dataclass(frozen=True)
class Unpacked:
    """A Debian package unpacked: its control fields and its data tree."""

    name: str
    version: str
    tree: Path
    fields: Mapping[str, str] = field(default_factory=dict)


def _walk_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def _library_dirs(triplet: str) -> frozenset[str]:
    return frozenset(
        {"lib", "usr/lib", "lib64", "usr/lib64", f"lib/{triplet}", f"usr/lib/{triplet}"}
    )


def scan_tree(tree: Path, triplet: str) -> tuple[set[str], set[str], set[str]]:
    """(so: provides, so: needs not met by the tree itself, cmd: names) of a package tree."""
    library_dirs = _library_dirs(triplet)
    provides: set[str] = set()
    own: set[str] = set()
    needed: set[str] = set()
    commands: set[str] = set()
    elf: list[Path] = []
    for path in _walk_files(tree):
        rel = path.relative_to(tree)
        if rel.parent.as_posix() in BIN_DIRS and (path.is_symlink() or os.access(path, os.X_OK)):
            commands.add(rel.name)
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            if handle.read(4) == b"\x7fELF":
                elf.append(path)
    # `readelf` reads every ELF class and machine; given two files or more it names each.
    output = _run(["readelf", "-dW", *map(str, elf if len(elf) > 1 else elf * 2)]) if elf else ""
    for name, dynamic in parse_readelf(output).items():
        rel = Path(name).relative_to(tree)
        own.add(rel.name)
        needed.update(dynamic.needed)
        if dynamic.soname:
            own.add(dynamic.soname)
            if rel.parent.as_posix() in library_dirs:
                provides.add(dynamic.soname)
    # Libraries reached through symlinks in the library folders (libfoo.so.1 -> libfoo.so.1.2).
    for path in _walk_files(tree):
        rel = path.relative_to(tree)
        if path.is_symlink() and rel.parent.as_posix() in library_dirs:
            own.add(rel.name)
    return provides, needed - own, commands


def _pin(name: str, version: str) -> str:
    return f"{name}={version}"


# --------------------------------------------------------------------------------------------
# I/O: downloads, unpacking, packing


def _run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> str:
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        sys.stderr.write(done.stdout + done.stderr)
        raise GenerationError(f"`{' '.join(argv[:4])} ...` failed (exit {done.returncode})")
    return done.stdout


def _deb_for(folder: Path, name: str, debian_arch: str) -> Path | None:
    found = sorted([*folder.glob(f"{name}_*_{debian_arch}.deb"), *folder.glob(f"{name}_*_all.deb")])
    return found[-1] if found else None


def download(debs: Path, debian_arch: str) -> dict[str, Path]:
    """The .deb of every package for one Debian arch, downloading the missing ones."""
    folder = debs / debian_arch
    folder.mkdir(parents=True, exist_ok=True)
    missing = [n for n in DEBIAN_PACKAGES if _deb_for(folder, n, debian_arch) is None]
    if missing:
        _say(f"apt-get download {len(missing)} packages for {debian_arch}")
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
            _run(
                ["apt-get", "download", "-o", "APT::Sandbox::User=root"]
                + [n if n in ARCH_ALL else f"{n}:{debian_arch}" for n in missing],
                cwd=Path(tmp),
            )
            for path in Path(tmp).glob("*.deb"):
                os.replace(path, folder / path.name)
    found = {n: _deb_for(folder, n, debian_arch) for n in DEBIAN_PACKAGES}
    absent = sorted(n for n, path in found.items() if path is None)
    if absent:
        raise GenerationError(
            f"apt-get download gave no .deb for {', '.join(absent)} ({debian_arch}): "
            "run `apt-get update` (scripts/setup adds the arm64 architecture)"
        )
    return {n: p for n, p in found.items() if p is not None}


def unpack(deb: Path, name: str, work: Path) -> Unpacked:
    tree = work / "debs" / name
    tree.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(deb), str(tree)])
    fields: dict[str, str] = {}
    for key in ("Version", "Depends", "Pre-Depends", "Homepage", "Description"):
        fields[key] = _run(["dpkg-deb", "-f", str(deb), key]).strip()
    for rel in DROPPED:
        target = tree / rel
        if rel == "usr/share/doc" and target.is_dir():
            for doc in target.iterdir():  # keep each package's copyright (its license)
                for child in doc.iterdir() if doc.is_dir() and not doc.is_symlink() else []:
                    if child.name != "copyright":
                        _remove(child)
            continue
        _remove(target)
    return Unpacked(
        name=name, version=apk_version_from_debian(fields["Version"]), tree=tree, fields=fields
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _mkdirs(root: Path, names: Iterable[str], mode: int = 0o755) -> None:
    for name in names:
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _symlink(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _baselayout(root: Path) -> None:
    _mkdirs(root, ["etc", "home", "home/nonroot", "usr", "var", "var/lib", "var/cache", "var/log"])
    _mkdirs(root, ["root"], 0o700)
    _mkdirs(root, ["tmp", "var/tmp"], 0o1777)
    _write(
        root / "etc" / "os-release",
        b'ID=buildkit-runtimes\nNAME="buildkit runtimes"\n'
        b'PRETTY_NAME="buildkit runtimes (Debian 12 binaries)"\nVERSION_ID=1\n'
        b"ID_LIKE=debian\n",
    )
    _write(
        root / "etc" / "passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    _write(root / "etc" / "group", b"root:x:0:\nnobody:x:65534:\n")
    _write(root / "etc" / "nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    _write(
        root / "etc" / "profile",
        b"export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\numask 022\n",
    )


def _busybox_applets(busybox: Path) -> list[str]:
    listing = _run([str(busybox), "--list-full"]).split()
    return sorted(p for p in listing if p != "bin/busybox")


@dataclass
class ArchBuild:
    """The packages of one arch, made from the unpacked Debian packages."""

    arch: str
    work: Path
    debs: dict[str, Unpacked]
    applets: list[str]
    packages: list[Package] = field(default_factory=list)

    @property
    def triplet(self) -> str:
        return ARCHS[self.arch][1]

    @property
    def debian_arch(self) -> str:
        return ARCHS[self.arch][0]

    def tree(self, name: str) -> Path:
        path = self.work / "trees" / name
        path.mkdir(parents=True)
        return path

    def add(self, package: Package) -> None:
        self.packages.append(package)

    def from_debian(self, deb: Unpacked) -> None:
        names = [RENAMED.get(n, n) for n in DEBIAN_PACKAGES if n not in ONLY_FOR_FILES]
        depends = debian_depends(
            ", ".join(filter(None, (deb.fields["Pre-Depends"], deb.fields["Depends"]))), names
        )
        self._add_scanned(
            Package(
                name=deb.name,
                version=deb.version,
                description=deb.fields["Description"].splitlines()[0] + " (Debian 12)",
                license="LicenseRef-Debian-copyright",  # see usr/share/doc/<name>/copyright
                url=deb.fields["Homepage"],
                tree=deb.tree,
                depends=tuple(d for d in depends if d != deb.name),
            )
        )

    def _add_scanned(self, package: Package) -> None:
        provides, needs, commands = scan_tree(package.tree, self.triplet)
        atoms = [f"so:{s}={so_version(s)}" for s in sorted(provides)]
        atoms += [f"cmd:{c}={package.version}" for c in sorted(commands)]
        self.add(
            Package(
                name=package.name,
                version=package.version,
                description=package.description,
                license=package.license,
                url=package.url,
                tree=package.tree,
                depends=(*package.depends, *(f"so:{n}" for n in sorted(needs))),
                provides=(*package.provides, *atoms),
            )
        )

    def wolfi_shaped(self) -> None:
        """The packages the field frameworks name, made from the Debian ones."""
        debs = self.debs
        busybox = self.tree("busybox")
        shutil.copytree(debs["busybox-static"].tree, busybox, symlinks=True, dirs_exist_ok=True)
        for rel in self.applets:
            target = busybox / rel
            if not (target.exists() or target.is_symlink()):
                _symlink(target, "/bin/busybox")
        shutil.copy2(
            debs["coreutils"].tree / "usr" / "bin" / "install", busybox / "usr/bin/install"
        )
        version = debs["busybox-static"].version
        self._add_scanned(
            Package(
                name="busybox",
                version=version,
                description="static busybox (Debian busybox-static) with every applet, and "
                "install from GNU coreutils",
                license="GPL-2.0-only AND GPL-3.0-or-later",
                url="https://busybox.net",
                tree=busybox,
                provides=("/bin/sh",),
            )
        )
        certs = mozilla_certificates(debs["ca-certificates"].tree)
        version = debs["ca-certificates"].version
        bundle = self.tree("ca-certificates-bundle")
        _write(bundle / "etc/ssl/certs/ca-certificates.crt", ca_bundle(certs))
        _symlink(bundle / "etc/ssl/cert.pem", "certs/ca-certificates.crt")
        # Where Debian's OpenSSL (OPENSSLDIR /usr/lib/ssl) looks; Debian's openssl package
        # carries these links.
        _symlink(bundle / "usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt")
        _symlink(bundle / "usr/lib/ssl/certs", "/etc/ssl/certs")
        self.add(
            Package(
                name="ca-certificates-bundle",
                version=version,
                description="the Mozilla CA bundle from Debian's ca-certificates",
                license="MPL-2.0",
                tree=bundle,
            )
        )
        java_certs = self.tree("java-cacerts")
        store = jks_truststore(
            [(jks_alias(n), ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))) for n, pem in certs],
            timestamp_ms=SOURCE_DATE_EPOCH * 1000,
        )
        _write(java_certs / "etc/ssl/certs/java/cacerts", store)
        self.add(
            Package(
                name="java-cacerts",
                version=version,
                description="the Mozilla CA certificates as Java's trust store (JKS)",
                license="MPL-2.0",
                tree=java_certs,
            )
        )
        layout = self.tree("wolfi-baselayout")
        _baselayout(layout)
        self.add(
            Package(
                name="wolfi-baselayout",
                version="1-r0",  # bump whenever _baselayout changes
                description="base files (stand-in for Wolfi's): passwd, group, os-release",
                license="Apache-2.0",
                tree=layout,
            )
        )
        libc = debs["libc6"]
        locale = self.tree("glibc-locale-posix")
        shutil.copytree(
            debs["libc-bin"].tree / "usr/lib/locale/C.utf8",
            locale / "usr/lib/locale/C.utf8",
            symlinks=True,
        )
        self.add(
            Package(
                name="glibc-locale-posix",
                version=libc.version,
                description="the C.UTF-8 locale (from Debian's libc-bin)",
                license="LGPL-2.1-or-later",
                tree=locale,
                depends=("libc6",),
            )
        )
        python = self.tree("python-3.11")
        _symlink(python / "usr/bin/python3", "python3.11")
        version = debs["python3.11-minimal"].version
        self.add(
            Package(
                name="python-3.11",
                version=version,
                description="CPython 3.11 with its standard library (Debian's python3.11)",
                license="PSF-2.0",
                url="https://www.python.org",
                tree=python,
                depends=(
                    _pin("python3.11-minimal", version),
                    _pin("libpython3.11-stdlib", debs["libpython3.11-stdlib"].version),
                ),
                provides=(f"cmd:python3={version}",),
            )
        )
        version = debs["openjdk-17-jre-headless"].version
        jre = self.tree("openjdk-17-jre")
        _symlink(jre / "usr/lib/jvm/java-17-openjdk", f"java-17-openjdk-{self.debian_arch}")
        self.add(
            Package(
                name="openjdk-17-jre",
                version=version,
                description="OpenJDK 17 headless JRE (Debian's) in /usr/lib/jvm/java-17-openjdk",
                license="GPL-2.0-only WITH Classpath-exception-2.0",
                url="https://openjdk.org",
                tree=jre,
                depends=(_pin("openjdk-17-jre-headless", version), "java-cacerts"),
            )
        )
        default = self.tree("openjdk-17-default-jvm")
        _symlink(default / "usr/lib/jvm/default-jvm", "java-17-openjdk")
        _symlink(default / "usr/bin/java", "../lib/jvm/default-jvm/bin/java")
        self.add(
            Package(
                name="openjdk-17-default-jvm",
                version=version,
                description="/usr/lib/jvm/default-jvm and /usr/bin/java: OpenJDK 17",
                license="GPL-2.0-only WITH Classpath-exception-2.0",
                tree=default,
                depends=(_pin("openjdk-17-jre", version),),
                provides=(f"cmd:java={version}",),
            )
        )


def check_closure(arch: str, packages: Sequence[Package]) -> None:
    """Every dependency of every package is met inside the repository."""
    offered = {p.name for p in packages}
    for package in packages:
        offered.update(atom.split("=", 1)[0] for atom in package.provides)
    missing = sorted(
        f"{package.name} needs {atom.split('=', 1)[0]}"
        for package in packages
        for atom in package.depends
        if atom.split("=", 1)[0] not in offered
    )
    if missing:
        raise GenerationError(
            f"{arch}: dependencies the repository does not meet: {'; '.join(missing)} "
            "(add the Debian package that has them to DEBIAN_PACKAGES)"
        )


def _buildkit(args: Sequence[str]) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
    _run([sys.executable, "-m", "buildkit", *args], env=env)


def pack_all(packages: Sequence[Package], *, arch: str, key: Path, out: Path) -> None:
    def pack(package: Package) -> None:
        where = ["--arch", arch, "--signing-key", str(key), "--output-dir", str(out)]
        _buildkit(["apk", "pack", str(package.tree), *package.pack_args(), *where])

    # Packing is gzip-bound: one worker per core (at most two, the machines are shared).
    workers = max(1, min(2, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(pack, p) for p in packages]:
            future.result()
    _buildkit(["apk", "index", str(out), "--signing-key", str(key), "--description", DESCRIPTION])


def build_arch(arch: str, debs: Mapping[str, Path], key: Path, work: Path) -> Path:
    unpacked = {name: unpack(deb, name, work) for name, deb in sorted(debs.items())}
    host = platform.machine() if platform.machine() in ARCHS else arch
    applets = _busybox_applets(_host_busybox(work.parent, host))
    build = ArchBuild(arch=arch, work=work, debs=unpacked, applets=applets)
    for name, deb in unpacked.items():
        if name not in RENAMED and name not in ONLY_FOR_FILES:
            build.from_debian(deb)
    build.wolfi_shaped()
    check_closure(arch, build.packages)
    out = work / "out"
    out.mkdir()
    pack_all(sorted(build.packages, key=lambda p: p.name), arch=arch, key=key, out=out)
    return out


def _host_busybox(base: Path, host_arch: str) -> Path:
    """The busybox of this machine's arch, unpacked (its applet list is the same for both)."""
    path = base / host_arch / "debs" / "busybox-static" / "bin" / "busybox"
    if not path.is_file():
        raise GenerationError(f"no unpacked busybox for {host_arch} at {path}")
    return path


def _ensure_key(keys_dir: Path) -> Path:
    private = keys_dir / KEY_NAME
    if not private.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        generate_keypair(private)
        _say(f"generated signing key {private} (stays on this machine)")
    return private


def inputs_digest(debs: Mapping[str, Mapping[str, Path]], public_key: Path) -> str:
    """One digest over the generator's inputs: its code, the key and every .deb by content."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    code = [here / "runtime_repo.py", here / "bootstrap_repo.py"]
    code += sorted((PROJECT_ROOT / "buildkit" / "apk").glob("*.py"))
    for path in [*code, public_key]:
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for arch in sorted(debs):
        for name, path in sorted(debs[arch].items()):
            h.update(f"{arch}\0{name}\0{path.name}\0".encode())
            with path.open("rb") as handle:
                h.update(hashlib.file_digest(handle, "sha256").digest())
    return h.hexdigest()


def generate(cache: Path, archs: Sequence[str]) -> None:
    base = cache / "runtimes"
    www = base / "www" / "os"
    stamp = base / "stamp"
    key = _ensure_key(base / "keys")
    public = key.with_name(key.name + ".pub")
    debs = {arch: download(base / "debs", ARCHS[arch][0]) for arch in archs}
    digest = inputs_digest(debs, public)
    outputs = [www / f"{KEY_NAME}.pub", *(www / a / "APKINDEX.tar.gz" for a in archs)]
    if stamp.is_file() and stamp.read_text().strip() == digest and all(p.exists() for p in outputs):
        _say(f"ok ({www})")
        return
    www.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=".build-") as tmp:
        served_key = www / f"{KEY_NAME}.pub"
        if not (served_key.is_file() and served_key.read_bytes() == public.read_bytes()):
            shutil.copyfile(public, Path(tmp) / "key.pub")
            os.replace(Path(tmp) / "key.pub", served_key)
        # The host's arch first: its busybox lists the applets for both.
        host = platform.machine()
        for arch in sorted(archs, key=lambda a: (a != host, a)):
            built = build_arch(arch, debs[arch], key, Path(tmp) / arch)
            publish_folder(built, www / arch)
            _say(f"packed {len(list((www / arch).glob('*.apk')))} packages for {arch}")
    stamp.write_text(digest + "\n")
    _say(f"generated {', '.join(archs)} in {www}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="the buildkit machine cache")
    parser.add_argument(
        "--arch", action="append", choices=sorted(ARCHS), help="default: x86_64 and aarch64"
    )
    args = parser.parse_args(argv)
    try:
        generate(args.cache, args.arch or sorted(ARCHS))
    except GenerationError as exc:
        print(f"setup: error: runtime repository: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
