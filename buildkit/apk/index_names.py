"""Who answers to which name: how a resolver looks index records up.

An apk package answers to its own name and to every name it provides (``so:``, ``cmd:``,
``pc:``, paths, virtual names), and an install_if rule is looked up by the names of its
atoms. :class:`NameIndex` answers "which records list this name?" with their positions, for
the records of the accepted archs. A Wolfi index has 200k records and 700k such names; a
dict of lists over them costs more than parsing the index (a str, a list and a dict slot per
name, written all over memory), while a resolution looks up a few hundred. Where the
install could build it, ``_native_index.c`` hashes the names into one flat array instead
and a lookup confirms each candidate against the record itself; otherwise
:func:`index_names` builds the dicts. Both give the same answers:
tests/unit/test_apk_index_names.py checks it.

Positions, not objects: the caller decides what a position stands for (the resolver makes
its package object only for the records a resolution looks at). Pure: records in, positions
out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from buildkit.apk.index_records import IndexRecord

try:
    from buildkit.apk import _native_index
except ImportError:  # installed without a C compiler: the loop below serves alone
    _native_index = None  # type: ignore[assignment]

Positions = dict[str, list[int]]  # name -> positions of the records listing it, in order

_ATOM_NAME = re.compile(r"^!?([^<>=~@]+)")
# An extension built from an older source lacks these: the Python maps then serve.
_BUILD: Callable[[object, object, int], object | None] | None = getattr(
    _native_index, "names_build", None
)
_LOOKUP: Callable[[object, str, int], list[int] | None] | None = getattr(
    _native_index, "names_lookup", None
)
_PROVIDERS, _INSTALL_IF = 0, 1  # the lookup groups of names_lookup


def atom_name(text: str) -> str:
    """An atom's name without parsing it (``!so:libz.so.1>=1`` -> ``so:libz.so.1``)."""
    match = _ATOM_NAME.match(text)
    return match.group(1) if match else text


class NameIndex:
    """The names the records of one index answer to (records numbered from ``first``).

    ``native=False`` uses the Python maps even where the compiled index exists (tests)."""

    def __init__(
        self,
        records: Sequence[IndexRecord],
        accepted: Collection[str],
        *,
        first: int = 0,
        native: bool = True,
    ) -> None:
        self._records = records
        self._accepted = accepted
        self._first = first
        self._native = _BUILD(records, accepted, first) if native and _BUILD is not None else None
        self._maps: tuple[Positions, Positions] | None = None
        if self._native is None:  # not built, or a record it declines: the Python maps
            self._maps = self.maps()

    @property
    def compiled(self) -> bool:
        return self._native is not None

    def providers(self, name: str) -> list[int] | None:
        """Positions of the records having ``name`` as own name or provide, in order."""
        if self._native is not None and _LOOKUP is not None:
            return _LOOKUP(self._native, name, _PROVIDERS)
        return self.maps()[0].get(name)

    def install_if(self, name: str) -> list[int] | None:
        """Positions of the records with an install_if atom on ``name``, in order."""
        if self._native is not None and _LOOKUP is not None:
            return _LOOKUP(self._native, name, _INSTALL_IF)
        return self.maps()[1].get(name)

    def maps(self) -> tuple[Positions, Positions]:
        """Every name at once: (providers, install_if) as dicts (made on first call)."""
        if self._maps is None:
            providers: Positions = {}
            install_if: Positions = {}
            index_names(
                self._records,
                self._accepted,
                first=self._first,
                providers=providers,
                install_if=install_if,
            )
            self._maps = providers, install_if
        return self._maps


def index_names(
    records: Sequence[IndexRecord],
    accepted: Collection[str],
    *,
    first: int = 0,
    providers: Positions,
    install_if: Positions,
) -> None:
    """Add ``records`` (numbered from ``first``) whose arch is in ``accepted`` to the maps:
    under its own name and each provided name (``providers``; a provide of its own name is
    not listed again) and under the name of each install_if atom (``install_if``)."""
    for position, record in enumerate(records, first):
        if record.arch not in accepted:
            continue
        name = record.name
        providers.setdefault(name, []).append(position)
        for provide in record.provides:
            provided = provide.partition("=")[0]
            if provided != name:
                providers.setdefault(provided, []).append(position)
        for trigger in record.install_if:
            install_if.setdefault(atom_name(trigger), []).append(position)


def compiled() -> bool:
    """Whether the compiled index serves."""
    return _BUILD is not None and _LOOKUP is not None
