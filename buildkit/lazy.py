"""Modules imported on first use: what a short command never touches, it never loads.

A warm ``lock --check`` answers from a cache entry in a few milliseconds of work, but
importing everything a cold lock needs (the resolver, the package builds' toolchain, the
vulnerability scan) cost it more than its work. A module that needs another only on some
paths declares it at its top, beside its other imports, through :func:`lazy_module`, with
the real import under ``TYPE_CHECKING`` so that type checkers and the import-linter layer
contracts (pyproject ``[tool.importlinter]``) still see the dependency::

    if TYPE_CHECKING:
        from buildkit.usecases import scanning
    else:
        scanning = lazy_module("buildkit.usecases.scanning")

It is the standard library's lazy import (``importlib.util.LazyLoader``): the module object
exists at once and its code runs at the first attribute access. Keep that first access on
one thread (CPython 3.11's LazyLoader does not lock it).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module whose code runs when an attribute is first read (at once when
    it is already imported)."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
