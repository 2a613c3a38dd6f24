"""Index lookup structures: who answers to which name, built once per (sources, arch).

An apk package answers to its own name and to every name it provides (``so:``, ``cmd:``,
``pc:``, paths, virtual names). Resolution asks "who provides X?" thousands of times, so the
maps are built once and cached for as long as the caller keeps the same index objects (a lock
run resolves many frameworks against the same indexes). Parsing of versions and of each
record's fields is lazy: a 200k-record index is mapped without parsing what is never asked.

Bad index data is handled as apk-tools 3 does (``apk_pkg_add_info``): a package whose ``V:``
is not a valid version or whose ``D:`` holds an invalid atom is not installable, an invalid
``p:`` entry is ignored, and an invalid ``i:`` disables that package's install_if rule (a
partial rule would fire too often). The index parser checks none of this (it must stay fast);
each package is checked here, once, when resolution first considers it.
"""

from __future__ import annotations

import functools
import weakref
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence

from buildkit.apk.atom import Atom, parse_atom
from buildkit.apk.index import IndexRecord
from buildkit.apk.index_names import NameIndex
from buildkit.apk.version import Version, is_valid_version, parse_version
from buildkit.errors import AtomError, ResolveError, VersionError
from buildkit.resolve.model import RepoSource

# A version sort key: invalid versions sort below every valid one instead of failing.
VersionKey = tuple[int] | tuple[int, Version]

_CACHE_SIZE = 4


class Pkg:
    """One index record as found in one repository: the resolver's unit of choice.

    Hashes by identity: the same record in two repositories is two choices, and hashing a
    frozen IndexRecord field by field on every lookup would dominate resolution time. It
    holds the record and the repository's position and tag, not the repository itself, so
    that cached maps do not keep the caller's index objects alive (see universe_for).
    """

    __slots__ = (
        "_checked",
        "_depends",
        "_install_if",
        "_provided",
        "rank",
        "record",
        "tag",
    )

    def __init__(self, record: IndexRecord, rank: int, tag: str | None) -> None:
        self.record = record
        self.rank = rank  # repository position: the first repository wins an exact duplicate
        self.tag = tag  # the repository's tag: eligible only when asked for
        self._provided: dict[str, str] | None = None  # as written, checked when asked
        self._checked: dict[str, bool] | None = None
        self._depends: tuple[Atom, ...] | str | None = None  # str: why D: is invalid
        self._install_if: tuple[Atom, ...] | None = None

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
        version = self._table().get(name)
        return version if version is not None and self._valid(name, version) else None

    def provided_names(self) -> tuple[str, ...]:
        """Its own name, then the names of its valid provides."""
        return (self.record.name, *self.provides())

    def provides(self) -> dict[str, str]:
        """Valid provides, name -> version ("" when unversioned); invalid entries dropped."""
        return {name: v for name, v in self._table().items() if self._valid(name, v)}

    def _table(self) -> dict[str, str]:
        table = self._provided
        if table is None:
            table = {}
            for provide in self.record.provides:
                name, _, version = provide.partition("=")
                table.setdefault(name, version)
            self._provided = table
        return table

    def _valid(self, name: str, version: str) -> bool:
        # Checked one name at a time: resolution asks about a few names of many packages.
        checked = self._checked
        if checked is None:
            checked = self._checked = {}
        valid = checked.get(name)
        if valid is None:
            valid = checked[name] = _valid_provide(name, version)
        return valid

    @property
    def installable(self) -> bool:
        """False when ``V:`` or a ``D:`` atom is invalid (apk marks it uninstallable)."""
        return not isinstance(self._parse_depends(), str)

    @property
    def problem(self) -> str | None:
        """Why the package is not installable ("invalid version '1..2'", "invalid dependency
        'x=v1': ..."), if so."""
        found = self._parse_depends()
        return found if isinstance(found, str) else None

    def depends(self) -> tuple[Atom, ...]:
        """The ``D:`` atoms in index order; () for a package that is not installable."""
        found = self._parse_depends()
        return () if isinstance(found, str) else found

    def _parse_depends(self) -> tuple[Atom, ...] | str:
        found = self._depends
        if found is None:
            version = self.record.version
            if not _valid_version(version):
                found = f"invalid version {version!r}"
            else:
                try:
                    found = tuple(parse_atom(text) for text in self.record.depends)
                except (AtomError, VersionError) as err:
                    found = err.message
            self._depends = found
        return found

    def install_if(self) -> tuple[Atom, ...]:
        """The ``i:`` atoms; () when there are none or one is invalid (no rule at all)."""
        atoms = self._install_if
        if atoms is None:
            try:
                atoms = tuple(parse_atom(text) for text in self.record.install_if)
            except (AtomError, VersionError):
                atoms = ()
            self._install_if = atoms
        return atoms

    def __repr__(self) -> str:
        return f"{self.record.name}-{self.record.version}"


@functools.lru_cache(maxsize=1 << 16)
def _provided_name(text: str) -> bool:
    """Whether ``text`` is a plain name apk accepts (no ``!``, tag or operator)."""
    try:
        atom = parse_atom(text)
    except (AtomError, VersionError):
        return False
    return not atom.conflict and atom.tag is None and atom.op is None


# Provides repeat their versions (every cmd: of a package has the package's version).
_valid_version = functools.lru_cache(maxsize=1 << 16)(is_valid_version)


def _valid_provide(name: str, version: str) -> bool:
    """Whether apk accepts the provide ``name[=version]`` (``version`` "" when absent)."""
    return _provided_name(name) and (not version or _valid_version(version))


class PkgLists:
    """name -> the packages listed under it, in index order: a read-only mapping over the
    indexes' name lookups (buildkit.apk.index_names) whose :class:`Pkg` objects are made on
    first lookup (a resolution looks at a few hundred of an index's 200k records)."""

    __slots__ = ("_every", "_lists", "_lookups", "_pkg")

    def __init__(
        self,
        lookups: Sequence[Callable[[str], list[int] | None]],
        every: Callable[[], Iterable[str]],
        pkg: Callable[[int], Pkg],
    ) -> None:
        self._lookups = lookups  # one per index, in repository order
        self._every = every  # every name (slow: only error messages list them)
        self._pkg = pkg
        self._lists: dict[str, list[Pkg] | None] = {}

    def _find(self, name: str) -> list[Pkg] | None:
        try:
            return self._lists[name]
        except KeyError:
            pass
        found: list[Pkg] | None = None
        for lookup in self._lookups:
            positions = lookup(name)
            if positions:
                found = found or []
                found.extend(map(self._pkg, positions))
        self._lists[name] = found
        return found

    def get(self, name: str, default: Sequence[Pkg] = ()) -> Sequence[Pkg]:
        found = self._find(name)
        return default if found is None else found

    def __getitem__(self, name: str) -> Sequence[Pkg]:
        found = self._find(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def values(self) -> Iterator[Sequence[Pkg]]:
        return (self[name] for name in self._every())


class _Maps:
    """The lookup maps of one set of indexes for one arch.

    Holds the records but neither the index objects nor the RepoSources, so a cache entry can
    be dropped when the caller lets go of its indexes. Names are looked up through each
    index's :class:`NameIndex` (compiled where possible), by record position; a position's
    Pkg is made once, when a lookup first returns it, so that it is the same Pkg every time.
    """

    def __init__(self, sources: Sequence[RepoSource], arch: str) -> None:
        self.tags = frozenset(s.tag for s in sources if s.tag)
        self.names: dict[str, tuple[str, bool]] = {}
        self.versions: dict[str, VersionKey] = {}
        accepted = frozenset((arch, "noarch", ""))
        self._records: list[IndexRecord] = []
        self._starts: list[int] = []  # each source's first position
        self._tags = [source.tag for source in sources]
        self._indexes: list[NameIndex] = []
        for source in sources:
            records = source.index.records
            self._starts.append(len(self._records))
            self._indexes.append(NameIndex(records, accepted, first=len(self._records)))
            self._records.extend(records)
        self._pkgs: list[Pkg | None] = [None] * len(self._records)
        # name -> packages listing it as own name or provide (valid or not), in index order
        self.providers = PkgLists(
            [index.providers for index in self._indexes], self._provided_names, self.pkg
        )
        # install_if trigger name -> packages whose i: mentions it
        self.install_if = PkgLists(
            [index.install_if for index in self._indexes], self._trigger_names, self.pkg
        )

    def pkg(self, position: int) -> Pkg:
        """The package of the record at ``position`` (the same object every time)."""
        found = self._pkgs[position]
        if found is None:
            rank = bisect_right(self._starts, position) - 1
            found = Pkg(self._records[position], rank, self._tags[rank])
            self._pkgs[position] = found
        return found

    def _provided_names(self) -> list[str]:
        return list(dict.fromkeys(n for index in self._indexes for n in index.maps()[0]))

    def _trigger_names(self) -> list[str]:
        return list(dict.fromkeys(n for index in self._indexes for n in index.maps()[1]))


class Universe:
    """Every package of one arch's repositories, mapped by the names they answer to.

    ``Universe(sources, arch)`` builds the maps; a caller that wants to decide how long they
    live passes it to ``resolve(..., universe=)``. ``universe_for`` shares maps between calls.
    """

    def __init__(
        self, sources: Sequence[RepoSource], arch: str, *, maps: _Maps | None = None
    ) -> None:
        self.sources = tuple(sources)
        self.arch = arch
        self._maps = maps if maps is not None else _Maps(self.sources, arch)
        self.tags = self._maps.tags
        self.providers = self._maps.providers
        self.install_if = self._maps.install_if

    def source_of(self, pkg: Pkg) -> RepoSource:
        return self.sources[pkg.rank]

    def answering(self, name: str) -> list[Pkg]:
        """Packages that answer to ``name`` (own name or valid provide), in index order."""
        return [pkg for pkg in self.providers.get(name, ()) if pkg.provided(name) is not None]

    def _name_info(self, name: str) -> tuple[str, bool]:
        names = self._maps.names
        info = names.get(name)
        if info is None:
            owners: set[str] = set()  # one valid provide per package name is enough to check
            for pkg in self.providers.get(name, ()):
                if pkg.name not in owners and pkg.provided(name) is not None:
                    owners.add(pkg.name)
            ident = next(iter(owners)) if len(owners) == 1 else name
            info = names[name] = (ident, len(owners) > 1)
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
        versions = self._maps.versions
        key = versions.get(text)
        if key is None:
            try:
                key = (1, parse_version(text))
            except VersionError:
                key = (0,)
            versions[text] = key
        return key

    def package_names(self) -> list[str]:
        return sorted({pkg.name for pkgs in self.providers.values() for pkg in pkgs})


# --------------------------------------------------------------------------------------------
# The shared maps: a small LRU keyed by the identity of the index objects. An entry holds its
# indexes only weakly where they allow it and is dropped as soon as one of them is freed, so
# the cache never keeps a caller's 200k-record indexes alive; otherwise it holds them (the ids
# in the key must stay valid) until it is evicted or cleared.

_Key = tuple[object, ...]


class _Entry:
    __slots__ = ("holds", "maps")

    def __init__(self, maps: _Maps, holds: tuple[object, ...]) -> None:
        self.maps = maps
        self.holds = holds

    def serves(self, sources: Sequence[RepoSource]) -> bool:
        return all(
            (hold() if isinstance(hold, weakref.ref) else hold) is source.index
            for hold, source in zip(self.holds, sources, strict=True)
        )


_cache: OrderedDict[_Key, _Entry] = OrderedDict()


def _forget(key: _Key, _gone: object) -> None:
    # A weakref callback: it must hold nothing but the key (holding the entry would make a
    # reference cycle, which a lock run with the collector paused never frees).
    _cache.pop(key, None)


def _hold(key: _Key, index: object) -> object:
    try:
        return weakref.ref(index, functools.partial(_forget, key))
    except TypeError:  # an index type without weak references: hold it
        return index


def universe_for(sources: Sequence[RepoSource], arch: str, *, context: str = "") -> Universe:
    """The universe of the sources of ``arch``, sharing cached maps built on first use.

    Keyed by the identity of the index objects (hashing 200k frozen records would cost more
    than the lookups it saves); the returned universe holds the caller's own sources.
    """
    mine = tuple(s for s in sources if s.arch == arch)
    if not mine:
        raise ResolveError(
            f"no repository for arch {arch}",
            where=context or None,
            hint="list the repositories for every arch the framework builds",
        )
    key: _Key = (arch, *((id(s.index), s.name, s.tag) for s in mine))
    entry = _cache.get(key)
    if entry is not None and entry.serves(mine):
        _cache.move_to_end(key)
    else:
        entry = _Entry(_Maps(mine, arch), tuple(_hold(key, s.index) for s in mine))
        _cache[key] = entry
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return Universe(mine, arch, maps=entry.maps)


def clear_universe_cache() -> None:
    """Drop every cached map now (they are also dropped when their indexes are freed)."""
    _cache.clear()
