"""APKINDEX records in C: buildkit/apk/_native_index.c (built when a C compiler is present)."""

from typing import NewType

Layout = NewType("Layout", object)

def layout(
    cls: type, keys: str, kinds: str, names: tuple[str, ...], required: str, unique: str, /
) -> Layout:
    """Where parse() puts each field of ``cls``: a capsule, made once."""

def parse(layout: Layout, data: bytes, /) -> list[object] | None:
    """The records of UTF-8 APKINDEX text, or None if it is not the usual case."""

def index_names(
    records: object,
    accepted: object,
    first: int,
    providers: dict[str, list[int]],
    install_if: dict[str, list[int]],
    /,
) -> None:
    """Add each record of an accepted arch to the name maps (see buildkit.apk.index_names)."""
