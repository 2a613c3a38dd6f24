"""A lockfile checked against its sources (pure): the config, the keys and the indexes.

``build`` and ``verify`` build from a lockfile, so a hand-edited one would be built as it
stands: another key shipped in the image, a version that is not the package's, a URL on
another host. Before anything runs, each lockfile must agree with what ``lock`` would
write from the same sources:

- the config checksum is the config's (and its includes'), and the config name is its path;
- the keyring entries are the keys the config names, content included;
- the repository entries are the config's, arch by arch;
- every arch the config names has its packages, no package is listed twice for one arch,
  and every package URL lies in one of the config's repositories (``<repo>/<arch>/<file>``);
- every package's identity (control checksum, name, version, file name) is what that
  repository's verified index says (:func:`check_identities`).

Each failure is one :class:`~buildkit.errors.LockError` naming the lockfile and the entry,
with the command that writes the lockfile again. The I/O (keys and indexes from the machine
cache, else fetched) is the caller's: :mod:`buildkit.usecases.source_check`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from buildkit.apk.index import INDEX_FILE, IndexRecord
from buildkit.apk.keys import Keyring
from buildkit.errors import ConfigError, LockError
from buildkit.framework import Framework, Repository, key_name
from buildkit.hints import lock_command, run
from buildkit.lockfile import LockedPackage, Lockfile, LockKey, LockRepo

# (repository URL as configured, arch) -> the index's records by identity (``C:``), or None
# when that index is not checked in this pass (a local repository built later, or absent).
IndexLookup = Callable[[str, str], Mapping[str, IndexRecord] | None]


def strip_scheme(location: str) -> str:
    """A keyring or repository entry's ``name`` in the lock: the URL without its scheme."""
    return location.removeprefix("https://").removeprefix("http://")


def is_remote_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def keyring_entries(
    framework: Framework, pems: Mapping[str, bytes]
) -> tuple[dict[str, bytes], tuple[LockKey, ...]]:
    """The keyring (file name -> PEM) and its lock entries, from ``pems`` (each keyring
    location of the config -> its bytes); entries sorted by name, as apko sorts them.

    Two different keys under one file name, or bytes that are not a public key, are a
    ConfigError naming the config or the key's location."""
    keys: dict[str, bytes] = {}
    places: dict[str, str] = {}
    for location in framework.contents.keyring:
        pem = pems[location]
        name = key_name(location)
        places.setdefault(name, location)
        if keys.get(name, pem) != pem:
            raise ConfigError(
                f"two different keys are named {name}",
                where=framework.config_name,
                hint="signatures find keys by file name; keep one of them",
            )
        keys[name] = pem
    Keyring(keys, where=places)  # a bad key is refused here, naming where it came from
    entries = [
        LockKey(name=strip_scheme(location), url=location, content=keys[name].decode("ascii"))
        for location in framework.contents.keyring
        if places[name := key_name(location)] == location
    ]
    return keys, tuple(sorted(entries, key=lambda entry: entry.name))


def lock_repositories(
    repositories: Sequence[Repository], archs: Sequence[str]
) -> tuple[LockRepo, ...]:
    """The lock entries of ``repositories``: arch-major, as apko appends them."""
    return tuple(
        LockRepo(
            name=strip_scheme(f"{repo.url}/{arch}"),
            url=f"{repo.url}/{arch}/{INDEX_FILE}",
            architecture=arch,
        )
        for arch in archs
        for repo in repositories
    )


def package_repository(framework: Framework, package: LockedPackage) -> Repository | None:
    """The repository of ``framework`` the package's URL lies in (``<repo>/<arch>/<file>``)."""
    for repo in framework.resolution_repositories:
        rest = package.url.removeprefix(f"{repo.url}/{package.architecture}/")
        if rest != package.url and rest and "/" not in rest:
            return repo
    return None


def packages_by_index(
    framework: Framework, lock: Lockfile
) -> dict[tuple[str, str], tuple[LockedPackage, ...]]:
    """(repository URL, arch) -> the locked packages whose URL lies in it (in lock order)."""
    found: dict[tuple[str, str], list[LockedPackage]] = {}
    for package in lock.packages:
        repo = package_repository(framework, package)
        if repo is not None:
            found.setdefault((repo.url, package.architecture), []).append(package)
    return {key: tuple(packages) for key, packages in found.items()}


# --------------------------------------------------------------------------------------------
# The checks


class _Checker:
    def __init__(self, framework: Framework, path: Path) -> None:
        self.framework = framework
        self.path = path

    def fail(self, entry: str, problem: str) -> LockError:
        return LockError(
            f"{entry}: {problem}",
            where=str(self.path),
            hint=f"{run(lock_command(self.framework.name))} to lock it again from its sources, "
            "and commit the lockfile",
        )


def check_lock_entries(
    framework: Framework, lock: Lockfile, *, path: Path, keys: Sequence[LockKey]
) -> None:
    """Everything but the package identities: config, keyring (``keys``: what
    :func:`keyring_entries` gives for the config's keys), repositories, archs, duplicates,
    URLs, and each control checksum against its identity."""
    check = _Checker(framework, path)
    config = framework.config_name
    if lock.config is None or lock.config.checksum != framework.checksum:
        raise check.fail("config.checksum", f"not the checksum of {config} and its includes")
    if lock.config.name != config:
        raise check.fail(f"config.name {lock.config.name!r}", f"does not match {config}")
    _check_keyring(check, lock.keyring, keys)
    missing = [arch for arch in framework.archs if arch not in lock.archs()]
    if missing:
        raise check.fail("contents", f"nothing locked for {missing[0]}, which {config} builds")
    for label in ("repositories", "build_repositories", "runtime_repositories"):
        expected = lock_repositories(getattr(framework.contents, label), framework.archs)
        _check_repositories(check, f"contents.{label}", getattr(lock, label), expected)
    _check_packages(check, lock.packages)


def _check_keyring(check: _Checker, found: Sequence[LockKey], expected: Sequence[LockKey]) -> None:
    config = check.framework.config_name
    wanted = {key.url: key for key in expected}
    seen: dict[str, int] = {}
    for n, key in enumerate(found):
        entry = f"contents.keyring[{n}] ({key.url})"
        if key.url in seen:
            raise check.fail(entry, f"duplicate of contents.keyring[{seen[key.url]}]")
        seen[key.url] = n
        want = wanted.get(key.url)
        if want is None:
            raise check.fail(entry, f"not a key {config} names")
        if key.content != want.content:
            raise check.fail(entry, f"its content is not the key {config} names at {key.url}")
        if key.name != want.name:
            raise check.fail(entry, f"name {key.name!r}, expected {want.name!r}")
    missing = [key.url for key in expected if key.url not in seen]
    if missing:
        raise check.fail("contents.keyring", f"no entry for {missing[0]}, which {config} names")


def _check_repositories(
    check: _Checker, label: str, found: Sequence[LockRepo], expected: Sequence[LockRepo]
) -> None:
    config = check.framework.config_name
    for n, repo in enumerate(found):
        if n < len(expected) and repo == expected[n]:
            continue
        entry = f"{label}[{n}] ({repo.url})"
        if repo in found[:n]:
            raise check.fail(entry, f"duplicate of {label}[{found.index(repo)}]")
        same = [e for e in expected if (e.url, e.architecture) == (repo.url, repo.architecture)]
        if not same:
            raise check.fail(entry, f"not a repository {config} names for {repo.architecture}")
        if same[0].name != repo.name:
            raise check.fail(entry, f"name {repo.name!r}, expected {same[0].name!r}")
        raise check.fail(entry, f"out of order (lock writes {label} as {config} lists them)")
    if len(found) < len(expected):
        missing = expected[len(found)]
        raise check.fail(
            label, f"no entry for {missing.url} ({missing.architecture}), which {config} names"
        )


def _check_packages(check: _Checker, packages: Sequence[LockedPackage]) -> None:
    framework = check.framework
    config = framework.config_name
    seen: dict[tuple[str, str], int] = {}
    for n, package in enumerate(packages):
        entry = package_entry(n, package)
        if package.architecture not in framework.archs:
            raise check.fail(entry, f"arch {package.architecture} is not one {config} builds")
        first = seen.setdefault((package.architecture, package.name), n)
        if first != n:
            raise check.fail(entry, f"duplicate of contents.packages[{first}]")
        if package_repository(framework, package) is None:
            repos = ", ".join(str(r.url) for r in framework.resolution_repositories)
            raise check.fail(
                entry,
                f"URL {package.url} is not in a repository of {config} "
                f"({repos or 'none'}) for {package.architecture}",
            )
        if package.control.checksum != control_checksum(package.checksum):
            raise check.fail(entry, "control checksum does not match the package's identity")
    if framework.contents.packages:
        archs = {package.architecture for package in packages}
        for arch in framework.archs:
            if arch not in archs:
                raise check.fail(
                    "contents.packages", f"no packages for {arch}, which {config} builds"
                )


def check_identities(
    framework: Framework, lock: Lockfile, *, path: Path, index: IndexLookup
) -> None:
    """Each package against its repository's index (where ``index`` gives one): the index
    must list its identity, under the same name and version, as the file the URL names."""
    check = _Checker(framework, path)
    for n, package in enumerate(lock.packages):
        repo = package_repository(framework, package)
        records = index(repo.url, package.architecture) if repo is not None else None
        if records is None:
            continue
        entry = package_entry(n, package)
        where = f"{repo.url}/{package.architecture}/{INDEX_FILE}" if repo else ""
        record = records.get(package.checksum)
        if record is None:
            listed = sorted({r.version for r in records.values() if r.name == package.name})
            now = f" (it lists {package.name} {', '.join(listed)})" if listed else ""
            raise check.fail(
                entry, f"{where} lists no package with its checksum {package.checksum}{now}"
            )
        if (record.name, record.version) != (package.name, package.version):
            raise check.fail(
                entry,
                f"{where} lists checksum {package.checksum} as {record.name} {record.version}",
            )
        if not package.url.endswith(f"/{record.filename}"):
            raise check.fail(entry, f"URL {package.url} does not name {record.filename}")


def package_entry(n: int, package: LockedPackage) -> str:
    """``contents.packages[3] (busybox 1.36.1-r0, x86_64)``: how a message names an entry."""
    return f"contents.packages[{n}] ({package.name} {package.version}, {package.architecture})"


def control_checksum(identity: str) -> str:
    """The lock's ``control.checksum`` (``sha1-<b64>``) for an identity ``Q1<b64>``: the same
    SHA-1 of the control member; "" for an identity that is not one."""
    body = identity.removeprefix("Q1")
    try:
        digest = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return ""
    if body == identity or len(digest) != 20:
        return ""
    return "sha1-" + base64.b64encode(digest).decode("ascii")
