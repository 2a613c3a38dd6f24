"""Index lookup structures: who answers to which name, built once per (sources, arch).

An apk package answers to its own name and to every name it provides (``so:``, ``cmd:``,
``pc:``, paths, virtual names). Resolution asks "who provides X?" thousands of times, so the
maps are built once and cached for as long as the caller keeps the same index objects (a lock
run resolves many frameworks against the same indexes). Parsing of versions and of each
record's provides is lazy: a 200k-record index is mapped without parsing what is never asked.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from buildkit.apk.index import IndexRecord
from buildkit.apk.version import Version, parse_version
from buildkit.errors import ResolveError, VersionError
from buildkit.resolve.model import RepoSource

# A version sort key: invalid versions sort below every valid one instead of failing.
VersionKey = tuple[int] | tuple[int, Version]

_ATOM_NAME = re.compile(r"^!?([^<>=~@]+)")
_CACHE_SIZE = 8


class Pkg:
    """One index record as found in one repository: the resolver's unit of choice.

    Hashes by identity: the same record in two repositories is two choices, and hashing a
    frozen IndexRecord field by field on every lookup would dominate resolution time.
    """

    __slots__ = ("_provided", "rank", "record", "source")

    def __init__(self, record: IndexRecord, source: RepoSource, rank: int) -> None:
        self.record = record
        self.source = source
        self.rank = rank  # repository position: the first repository wins an exact duplicate
        self._provided: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def priority(self) -> int:
        return self.record.provider_priority or 0

    def provided(self, name: str) -> str | None:
        """The version under which this package answers to ``name``.

        Its own version for its own name, the provide's version for a provide ("" for an
        unversioned provide, i.e. a virtual), None when it does not answer to ``name``.
        """
        if name == self.record.name:
            return self.record.version
        return self._table().get(name)

    def provided_names(self) -> tuple[str, ...]:
        """Its own name, then the names of its provides."""
        return (self.record.name, *self._table())

    def _table(self) -> dict[str, str]:
        table = self._provided
        if table is None:
            table = {}
            for provide in self.record.provides:
                provided_name, _, version = provide.partition("=")
                table.setdefault(provided_name, version)
            self._provided = table
        return table

    def __repr__(self) -> str:
        return f"{self.record.name}-{self.record.version}"


def atom_name(text: str) -> str:
    """An atom's name without parsing it (``!so:libz.so.1>=1`` -> ``so:libz.so.1``)."""
    match = _ATOM_NAME.match(text)
    return match.group(1) if match else text


class Universe:
    """Every package of one arch's repositories, mapped by the names they answer to."""

    def __init__(self, sources: Sequence[RepoSource], arch: str) -> None:
        self.sources = tuple(sources)
        self.arch = arch
        self.tags = frozenset(s.tag for s in self.sources if s.tag)
        # name -> packages answering to it (own name or provide), in index order
        self.providers: dict[str, list[Pkg]] = {}
        # install_if trigger name -> packages whose i: mentions it
        self.install_if: dict[str, list[Pkg]] = {}
        self._names: dict[str, tuple[str, bool]] = {}
        self._versions: dict[str, VersionKey] = {}
        self._build()

    def _build(self) -> None:
        providers = self.providers
        accepted = {self.arch, "noarch", ""}
        for rank, source in enumerate(self.sources):
            for record in source.index.records:
                if record.arch not in accepted:
                    continue
                pkg = Pkg(record, source, rank)
                providers.setdefault(record.name, []).append(pkg)
                for provide in record.provides:
                    name = provide.partition("=")[0]
                    if name != record.name:
                        providers.setdefault(name, []).append(pkg)
                for trigger in record.install_if:
                    self.install_if.setdefault(atom_name(trigger), []).append(pkg)

    def _name_info(self, name: str) -> tuple[str, bool]:
        info = self._names.get(name)
        if info is None:
            owners = {pkg.name for pkg in self.providers.get(name, ())}
            ident = next(iter(owners)) if len(owners) == 1 else name
            info = self._names[name] = (ident, len(owners) > 1)
        return info

    def ident_for(self, name: str) -> str:
        """The resolver identifier for requirements on ``name``.

        A name only one package (by name) answers to is folded onto that package's name, so
        ``so:libz.so.1`` and ``zlib`` are one decision rather than two; a name several packages
        answer to is its own identifier whose candidates point back at those packages.
        """
        return self._name_info(name)[0]

    def contested(self, name: str) -> bool:
        """True when packages of two or more names answer to ``name``."""
        return self._name_info(name)[1]

    def version_key(self, text: str) -> VersionKey:
        key = self._versions.get(text)
        if key is None:
            try:
                key = (1, parse_version(text))
            except VersionError:
                key = (0,)
            self._versions[text] = key
        return key

    def package_names(self) -> list[str]:
        return sorted({pkg.name for pkgs in self.providers.values() for pkg in pkgs})


_cache: OrderedDict[tuple[object, ...], Universe] = OrderedDict()


def universe_for(sources: Sequence[RepoSource], arch: str, *, context: str = "") -> Universe:
    """The cached universe for the sources of ``arch``; built on first use.

    Keyed by the identity of the index objects (hashing 200k frozen records would cost more
    than the lookups it saves); the cached entry holds the sources, so the ids stay valid.
    """
    mine = tuple(s for s in sources if s.arch == arch)
    if not mine:
        raise ResolveError(
            f"no repository for arch {arch}",
            where=context or None,
            hint="list the repositories for every arch the framework builds",
        )
    key = (arch, *((id(s.index), s.name, s.tag) for s in mine))
    found = _cache.get(key)
    if found is not None and all(
        a.index is b.index for a, b in zip(found.sources, mine, strict=True)
    ):
        _cache.move_to_end(key)
        return found
    universe = Universe(mine, arch)
    _cache[key] = universe
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return universe


def common_versions(
    per_arch_sources: Mapping[str, Sequence[RepoSource]],
) -> dict[str, frozenset[str]]:
    """For each package name present on 2+ archs, the versions present on every arch having it.

    apko resolves each arch on its own, so versions can differ between archs; passing this as
    ``allowed_versions`` keeps one version of each package across all the archs of an image.
    """
    per_arch: dict[str, dict[str, set[str]]] = {}
    for arch, sources in per_arch_sources.items():
        names = per_arch.setdefault(arch, {})
        for source in sources:
            for record in source.index.records:
                names.setdefault(record.name, set()).add(record.version)
    result: dict[str, frozenset[str]] = {}
    all_names = sorted({name for names in per_arch.values() for name in names})
    for name in all_names:
        found = [names[name] for names in per_arch.values() if name in names]
        if len(found) >= 2:
            result[name] = frozenset(set.intersection(*found))
    return result
