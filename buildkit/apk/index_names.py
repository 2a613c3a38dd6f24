"""Who answers to which name: the maps a resolver looks index records up by.

An apk package answers to its own name and to every name it provides (``so:``, ``cmd:``,
``pc:``, paths, virtual names), and an install_if rule is looked up by the names of its
atoms. :func:`index_names` maps each such name to the positions of the records listing it,
for the records of the accepted archs. A Wolfi index has 200k records and a million names
to map, which in a Python loop costs more than parsing the index; ``_native_index.c`` does
the same loop in C where the install could build it, and the loop below serves otherwise.
Both must give the same maps: tests/unit/test_apk_index_names.py checks it.

Positions, not objects: the caller decides what a position stands for (the resolver makes
its package object only for the few records a resolution looks at). Every entry of one
record is the same int object. Pure: records in, dicts out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from buildkit.apk.index_records import IndexRecord

try:
    from buildkit.apk import _native_index
except ImportError:  # installed without a C compiler: the loop below serves alone
    _native_index = None  # type: ignore[assignment]

Positions = dict[str, list[int]]  # name -> positions of the records listing it, in order

_ATOM_NAME = re.compile(r"^!?([^<>=~@]+)")
# An extension built from an older source may lack the function: the loop then serves.
_NATIVE = getattr(_native_index, "index_names", None)


def atom_name(text: str) -> str:
    """An atom's name without parsing it (``!so:libz.so.1>=1`` -> ``so:libz.so.1``)."""
    match = _ATOM_NAME.match(text)
    return match.group(1) if match else text


def index_names(
    records: Sequence[IndexRecord],
    accepted: Collection[str],
    *,
    first: int = 0,
    providers: Positions,
    install_if: Positions,
    native: bool = True,
) -> None:
    """Add ``records`` (numbered from ``first``) whose arch is in ``accepted`` to the maps:
    under its own name and each provided name (``providers``; a provide of its own name is
    not listed again) and under the name of each install_if atom (``install_if``).
    ``native=False`` runs the Python loop even where the compiled one exists (tests)."""
    if native and _NATIVE is not None:
        _NATIVE(records, accepted, first, providers, install_if)
        return
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
    """Whether the compiled loop serves."""
    return _NATIVE is not None
