"""APKINDEX records in C: buildkit/apk/_native_index.c (built when a C compiler is present)."""

from typing import NewType

Layout = NewType("Layout", object)

def layout(
    cls: type, keys: str, kinds: str, names: tuple[str, ...], required: str, unique: str, /
) -> Layout:
    """Where parse() puts each field of ``cls``: a capsule, made once."""

def parse(layout: Layout, data: bytes, /) -> list[object] | None:
    """The records of UTF-8 APKINDEX text, or None if it is not the usual case."""

Names = NewType("Names", object)

def names_build(records: object, accepted: object, first: int, /) -> Names | None:
    """The names records of an accepted arch answer to, hashed; None: not the usual case."""

def names_lookup(names: Names, name: str, group: int, /) -> list[int] | None:
    """Positions of the records listing ``name`` (group 0: providers, 1: install_if)."""
