"""Typed getters for parsed YAML, TOML and JSON documents that name the place of a bad value.

A :class:`Fields` reads the values of one mapping of a document. It knows where the document
is (``where``: a file or ``file:line``), the dotted path of the mapping inside it (``path``), the
error class to raise and the words for a mapping in that format ("a mapping" in YAML, "a table"
in TOML, "an object" in JSON). Every getter checks one value's type and raises one line naming
the dotted path: ``package.version must be a non-empty string``. :meth:`Fields.at` chains the
path into a nested mapping.

The YAML node helpers (:func:`node_where`, :func:`found`) serve the validators that walk
PyYAML's node tree (apko and melange configs), so their errors carry ``file:line``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from buildkit.errors import BuildkitError, ConfigError

_UNSET: Any = object()


def dotted(path: str, key: str) -> str:
    """``path.key`` (or ``key`` at the top of a document)."""
    return f"{path}.{key}" if path else key


@dataclass(frozen=True, kw_only=True)
class Fields:
    """Getters over the mappings of one document (see the module docstring)."""

    where: str
    path: str = ""
    error: type[BuildkitError] = ConfigError
    prefix: str = ""  # put before every message: "malformed build record: "
    hint: str | None = None  # the hint of every error that names none of its own
    mapping_word: str = "a mapping"  # "a table" (TOML), "an object" (JSON)

    def at(self, key: str) -> Fields:
        """The getters for the mapping at ``key`` below this one."""
        return replace(self, path=dotted(self.path, key))

    def name(self, key: str) -> str:
        """The dotted path of ``key`` in this mapping."""
        return dotted(self.path, key)

    def fail(self, message: str, *, hint: str | None = None) -> BuildkitError:
        """The error for ``message`` at this document."""
        return self.error(self.prefix + message, where=self.where, hint=hint or self.hint)

    def mapping(
        self, data: Mapping[str, Any], key: str, *, default: Any = _UNSET, missing: str = ""
    ) -> Mapping[str, Any]:
        """The mapping at ``key``; ``default`` when it is absent (None counts as absent when a
        default is given), else an error (``missing``: the hint when it is absent)."""
        value = data.get(key)
        if value is None and default is not _UNSET:
            return default  # type: ignore[no-any-return]
        if value is None and missing:
            raise self.fail(
                f"{self.name(key)} must be {self.mapping_word}; it is missing", hint=missing
            )
        if not isinstance(value, dict):
            raise self.fail(f"{self.name(key)} must be {self.mapping_word}")
        return value

    def string(self, data: Mapping[str, Any], key: str, *, default: Any = _UNSET) -> str:
        """The non-empty string at ``key`` (``default`` when absent)."""
        value = data.get(key) if default is _UNSET else data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{self.name(key)} must be a non-empty string")
        return value

    def text(self, data: Mapping[str, Any], key: str) -> str:
        """The string at ``key``, stripped; YAML numbers (``version: 1.0``) count as their text."""
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{self.name(key)} must be a non-empty string")
        return value.strip()

    def any_string(self, data: Mapping[str, Any], key: str, *, default: Any = _UNSET) -> str:
        """The string at ``key``, empty allowed (``default`` when absent)."""
        value = data.get(key) if default is _UNSET else data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{self.name(key)} must be a string")
        return value

    def items(self, data: Mapping[str, Any], key: str) -> list[Any]:
        """The list at ``key`` (an empty one when absent or null)."""
        value = data.get(key) or []
        if not isinstance(value, list):
            raise self.fail(f"{self.name(key)} must be a list")
        return value

    def strings(self, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """The list of strings at ``key`` (an empty one when absent)."""
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{self.name(key)} must be a list of strings")
        return tuple(value)

    def boolean(self, data: Mapping[str, Any], key: str, *, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{self.name(key)} must be true or false")
        return value

    def integer(self, data: Mapping[str, Any], key: str) -> int:
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"{self.name(key)} must be an integer")
        return value

    def string_map(
        self, data: Mapping[str, Any], key: str, *, hint: str | None = None
    ) -> dict[str, str]:
        """The mapping of non-empty strings at ``key`` (an empty one when absent)."""
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            raise self.fail(f"{self.name(key)} must be {self.mapping_word} of strings", hint=hint)
        return {str(k): v for k, v in value.items()}


# --------------------------------------------------------------------------------------------
# YAML node trees (validators that report file:line)


def node_where(where: str, node: yaml.Node) -> str:
    """``file:line`` of ``node``."""
    return f"{where}:{node.start_mark.line + 1}"


def found(node: yaml.Node) -> str:
    """What a node is, in words for "must be X, not <found>"."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(node.value)


def type_error(node: yaml.Node, path: str, expected: str, where: str) -> ConfigError:
    """``<path> must be <expected>, not <found>`` at the node's line."""
    return ConfigError(
        f"{path} must be {expected}, not {found(node)}", where=node_where(where, node)
    )
