"""Checking a melange config before melange runs: schema, ``uses:``, fetch checksums (pure).

melange v0.59 decodes its config with yaml.v3 in known-fields mode, so an unknown key is an
error inside the container, after the image has started, under a long command line. This
module finds the same mistakes from the bytes alone, in milliseconds, as ``file:line`` errors:

- the schema: unknown keys (with "did you mean") and wrong types, following melange's
  ``pkg/config`` structs (yaml tag, else the lower-cased Go field name); the build
  environment is an apko ``ImageConfiguration``, checked with the frameworks' schema;
- ``uses:`` of a pipeline melange does not have (:data:`BUILTIN_PIPELINES`, melange's own
  ``pkg/build/pipelines/``; buildkit passes no ``--pipeline-dir``);
- the steps melange refuses: ``uses:`` with ``runs:``, ``with:`` without ``uses:``
  (pkg/config validatePipelines: the package's and subpackages' pipelines); a ``with:`` input
  the pipeline does not take, a required one left empty, an ``expected-sha256``/``-sha512``/
  ``-commit`` that is not that many hex digits (pkg/build compile.go and validateWith, after
  ``${{vars.*}}`` is substituted as melange does; :data:`BUILTIN_INPUTS`);
- ``uses: fetch`` without ``expected-sha256`` or ``expected-sha512``: a download nobody
  checks is not hermetic (``expected-none`` is refused for the same reason).

What it returns (:class:`CheckedConfig`) carries the line of each build-environment package,
so that :mod:`buildkit.usecases.melange_env` can name the line of a package its repositories lack.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import yaml

from buildkit.errors import ConfigError
from buildkit.fields import dotted, node_where, type_error
from buildkit.framework import SCHEMA as APKO_SCHEMA
from buildkit.framework import _convert, yaml_error
from buildkit.melange_pipelines import BUILTIN_INPUTS, BUILTIN_PIPELINES, MELANGE_VERSION

ScalarKind = Literal["string", "int", "bool", "any"]


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class Seq:
    item: Spec


@dataclass(frozen=True)
class Map:
    """map[string]<value>"""

    value: Spec


@dataclass(frozen=True)
class Struct:
    fields: Mapping[str, Spec]


@dataclass(frozen=True)
class Lazy:
    """A spec defined later (recursive pipelines)."""

    name: str


@dataclass(frozen=True)
class ApkoImage:
    """An apko ImageConfiguration: checked with :data:`buildkit.framework.SCHEMA`."""


@dataclass(frozen=True)
class Anything:
    """Not checked here (melange's build options, range data items)."""


Spec = Scalar | Seq | Map | Struct | Lazy | ApkoImage | Anything

STR, INT, BOOL = Scalar("string"), Scalar("int"), Scalar("bool")
STRS = Seq(STR)
STR_MAP = Map(STR)

# melange v0.59.2 pkg/config/config.go, as yaml.v3 reads it.
_DEPENDENCIES = Struct(
    {
        "runtime": STRS,
        "provides": STRS,
        "replaces": STRS,
        "provider-priority": STR,
        "replaces-priority": STR,
    }
)
_OPTIONS = Struct(
    {"no-provides": BOOL, "no-depends": BOOL, "no-commands": BOOL, "no-versioned-shlib-deps": BOOL}
)
_SCRIPTLETS = Struct(
    {
        "trigger": Struct({"script": STR, "paths": STRS}),
        "pre-install": STR,
        "post-install": STR,
        "pre-deinstall": STR,
        "post-deinstall": STR,
        "pre-upgrade": STR,
        "post-upgrade": STR,
    }
)
_CHECKS = Struct({"disabled": STRS})
_CAPABILITY = Struct({"path": STR, "add": STR_MAP, "reason": STR})
_RESOURCES = Struct({"cpu": STR, "cpumodel": STR, "memory": STR, "disk": STR})
_PIPELINE = Struct(
    {
        "if": STR,
        "name": STR,
        "uses": STR,
        "with": STR_MAP,
        "runs": STR,
        "pipeline": Seq(Lazy("pipeline")),
        "inputs": Map(Struct({"description": STR, "default": STR, "required": BOOL})),
        "needs": Struct({"packages": STRS}),
        "label": STR,
        "assertions": Struct({"required-steps": INT}),
        "working-directory": STR,
        "environment": STR_MAP,
    }
)
_TEST = Struct({"environment": ApkoImage(), "pipeline": Seq(_PIPELINE)})
_PACKAGE = Struct(
    {
        "name": STR,
        "version": STR,
        "epoch": INT,
        "description": STR,
        "annotations": STR_MAP,
        "url": STR,
        "commit": STR,
        "target-architecture": STRS,
        "copyright": Seq(
            Struct(
                {
                    "paths": STRS,
                    "attestation": STR,
                    "license": STR,
                    "license-path": STR,
                    "detection-override": STR,
                }
            )
        ),
        "dependencies": _DEPENDENCIES,
        "options": _OPTIONS,
        "scriptlets": _SCRIPTLETS,
        "checks": _CHECKS,
        "cpe": Struct(
            dict.fromkeys(
                (
                    "part",
                    "vendor",
                    "product",
                    "edition",
                    "language",
                    "sw_edition",
                    "target_sw",
                    "target_hw",
                    "other",
                ),
                STR,
            )
        ),
        "setcap": Seq(_CAPABILITY),
        "timeout": STR,
        "resources": _RESOURCES,
        "test-resources": _RESOURCES,
    }
)
_SUBPACKAGE = Struct(
    {
        "if": STR,
        "range": STR,
        "name": STR,
        "pipeline": Seq(_PIPELINE),
        "dependencies": _DEPENDENCIES,
        "options": _OPTIONS,
        "scriptlets": _SCRIPTLETS,
        "description": STR,
        "annotations": STR_MAP,
        "url": STR,
        "commit": STR,
        "checks": _CHECKS,
        "test": _TEST,
        "setcap": Seq(_CAPABILITY),
    }
)
SCHEMA = Struct(
    {
        "package": _PACKAGE,
        "environment": ApkoImage(),
        "capabilities": Struct({"add": STRS, "drop": STRS}),
        "pipeline": Seq(_PIPELINE),
        "subpackages": Seq(_SUBPACKAGE),
        "data": Seq(Struct({"name": STR, "items": Anything()})),
        "update": Anything(),  # release monitoring: never used by a build
        "vars": STR_MAP,
        "var-transforms": Seq(Struct({"from": STR, "match": STR, "replace": STR, "to": STR})),
        "options": Anything(),
        "test": _TEST,
    }
)
_LAZY: Mapping[str, Spec] = {"pipeline": _PIPELINE}

# fetch's inputs that make the download checked (pkg/build/pipelines/fetch.yaml).
FETCH_CHECKSUMS = ("expected-sha256", "expected-sha512")

_NULL = "tag:yaml.org,2002:null"
_BOOLS = frozenset({"true", "false", "True", "False", "TRUE", "FALSE"})


@dataclass(frozen=True, kw_only=True)
class CheckedConfig:
    """A config that passed: where each build-environment package is written."""

    where: str
    environment_lines: Mapping[str, int]  # environment.contents.packages entry -> line


def check_melange_config(data: bytes, *, where: str) -> CheckedConfig:
    """Check a melange config's bytes; ConfigError (``where:line``) on the first mistake."""
    try:
        root = yaml.compose(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, where, data) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            "a melange config must be a mapping",
            where=where,
            hint="it starts with package: (name, version, epoch)",
        )
    _walk(root, SCHEMA, "", where)
    variables = _vars(root)
    for path, step, validated in _pipeline_steps(root, ""):
        _check_step(step, path, where, validated=validated, variables=variables)
    return CheckedConfig(where=where, environment_lines=_environment_lines(root))


# --------------------------------------------------------------------------------------------
# Schema


def _walk(node: yaml.Node, spec: Spec, path: str, where: str) -> None:
    if isinstance(spec, Lazy):
        spec = _LAZY[spec.name]
    if isinstance(spec, Anything) or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return
    if isinstance(spec, ApkoImage):
        _convert(node, APKO_SCHEMA, path, where)
        return
    if isinstance(spec, Scalar):
        _scalar(node, spec.kind, path, where)
    elif isinstance(spec, Seq):
        if not isinstance(node, yaml.SequenceNode):
            raise type_error(node, path, "a list", where)
        for n, item in enumerate(node.value):
            _walk(item, spec.item, f"{path}[{n}]", where)
    elif not isinstance(node, yaml.MappingNode):
        raise type_error(node, path, "a mapping", where)
    elif isinstance(spec, Map):
        for key, value in node.value:
            _walk(value, spec.value, dotted(path, str(key.value)), where)
    elif isinstance(spec, Struct):
        _struct(node, spec, path, where)


def _struct(node: yaml.MappingNode, spec: Struct, path: str, where: str) -> None:
    seen: dict[str, int] = {}
    for key, value in node.value:
        name = str(key.value)
        field = dotted(path, name)
        if name in seen:
            raise ConfigError(
                f"duplicate key {field}",
                where=node_where(where, key),
                hint=f"first defined on line {seen[name]}",
            )
        seen[name] = key.start_mark.line + 1
        if name not in spec.fields:
            close = difflib.get_close_matches(name, list(spec.fields), n=1)
            raise ConfigError(
                f"unknown key {field} (melange {MELANGE_VERSION} refuses it)",
                where=node_where(where, key),
                hint=(f"did you mean {close[0]}? " if close else "")
                + f"known keys{' in ' + path if path else ''}: {', '.join(spec.fields)}",
            )
        _walk(value, spec.fields[name], field, where)


def _scalar(node: yaml.Node, kind: ScalarKind, path: str, where: str) -> None:
    expected = {"string": "a string", "int": "an integer", "bool": "true or false", "any": ""}
    if not isinstance(node, yaml.ScalarNode):
        raise type_error(node, path, expected[kind] or "a value", where)
    text = str(node.value)
    if kind == "int" and "${{" not in text:
        try:
            int(text.replace("_", ""), 0)
        except ValueError:
            raise type_error(node, path, expected[kind], where) from None
    if kind == "bool" and text not in _BOOLS:
        raise type_error(node, path, expected[kind], where)


# --------------------------------------------------------------------------------------------
# Pipelines


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _pipeline_steps(root: yaml.Node, path: str) -> Iterator[tuple[str, yaml.Node, bool]]:
    """Every pipeline step: the package's, each subpackage's, the tests', nested ones.

    The flag says whether melange's ``validatePipelines`` sees the step (pkg/config): the
    package's and the subpackages' pipelines with their nested steps, not the tests'.
    """

    def steps(
        node: yaml.Node | None, at: str, validated: bool
    ) -> Iterator[tuple[str, yaml.Node, bool]]:
        for n, step in enumerate(_items(node)):
            here = f"{at}[{n}]"
            yield here, step, validated
            yield from steps(_get(step, "pipeline"), f"{here}.pipeline", validated)

    yield from steps(_get(root, "pipeline"), dotted(path, "pipeline"), True)
    test = _get(root, "test")
    if test is not None:
        yield from steps(_get(test, "pipeline"), dotted(path, "test.pipeline"), False)
    for n, sub in enumerate(_items(_get(root, "subpackages"))):
        at = dotted(path, f"subpackages[{n}]")
        yield from steps(_get(sub, "pipeline"), f"{at}.pipeline", True)
        test = _get(sub, "test")
        if test is not None:
            yield from steps(_get(test, "pipeline"), f"{at}.test.pipeline", False)


def _key(node: yaml.Node, key: str) -> yaml.Node:
    """The key node of ``key`` in a mapping (its line is where the user wrote it)."""
    found: yaml.Node = next(k for k, _v in node.value if k.value == key)
    return found


def _text(node: yaml.Node | None) -> str:
    """A scalar's text as melange's yaml.v3 gives it to a string field (null: empty)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
        return ""
    return str(node.value)


def _vars(root: yaml.Node) -> dict[str, str]:
    node = _get(root, "vars")
    pairs = node.value if isinstance(node, yaml.MappingNode) else []
    return {f"${{{{vars.{_text(k)}}}}}": _text(v) for k, v in pairs}


def _substitute(text: str, variables: Mapping[str, str]) -> str:
    """``${{vars.x}}`` replaced as melange does when it reads the config (others stay)."""
    for name, value in variables.items():
        text = text.replace(name, value)
    return text


def _check_step(
    step: yaml.Node, path: str, where: str, *, validated: bool, variables: Mapping[str, str]
) -> None:
    uses_node, runs_node, with_node = _get(step, "uses"), _get(step, "runs"), _get(step, "with")
    name = _text(uses_node).strip()
    given = {
        _text(k): (k, v)
        for k, v in (with_node.value if isinstance(with_node, yaml.MappingNode) else [])
    }
    if validated and given and not name:
        raise ConfigError(
            f"{path}: with: in a step without uses: (melange {MELANGE_VERSION} refuses it)",
            where=node_where(where, _key(step, "with")),
            hint="with: gives the inputs of the pipeline named by uses:; "
            "in a runs: step, write the values into the script",
        )
    if validated and name and _text(runs_node):
        raise ConfigError(
            f"{path}: a step with both uses: and runs: (melange {MELANGE_VERSION} refuses it)",
            where=node_where(where, _key(step, "runs")),
            hint="make them two steps: one with uses: (and its with:), one with runs:",
        )
    if uses_node is None or not name or "${{" in name:
        return  # melange substitutes variables first; nothing to say before it does
    if name not in BUILTIN_PIPELINES:
        close = difflib.get_close_matches(name, sorted(BUILTIN_PIPELINES), n=3)
        raise ConfigError(
            f"{path}.uses: melange {MELANGE_VERSION} has no pipeline {name!r}",
            where=node_where(where, uses_node),
            hint=f"did you mean {' or '.join(close)}?"
            if close
            else "see melange's pkg/build/pipelines/, or write the step with runs:",
        )
    if not _items(_get(step, "pipeline")):  # with its own pipeline:, melange ignores uses:
        _check_inputs(name, given, path, where, uses_node=uses_node, variables=variables)
    checked = {key for key, (_k, value) in given.items() if _text(value).strip()}
    if name == "fetch" and not checked & set(FETCH_CHECKSUMS):
        raise ConfigError(
            f"{path}: fetch without an expected checksum is not hermetic",
            where=node_where(where, step),
            hint="give the download's checksum: with: expected-sha256 (or expected-sha512)",
        )


# Inputs melange checks the form of (pkg/build/pipeline.go, validateWith): hex digits, length.
_HASHES = {
    "expected-sha256": (64, "a sha256 checksum", "as sha256sum prints it"),
    "expected-sha512": (128, "a sha512 checksum", "as sha512sum prints it"),
    "expected-commit": (40, "a full commit hash", "as git rev-parse HEAD prints it"),
}
_HEX = frozenset("0123456789abcdefABCDEF")


def _check_inputs(
    name: str,
    given: Mapping[str, tuple[yaml.Node, yaml.Node]],
    path: str,
    where: str,
    *,
    uses_node: yaml.Node,
    variables: Mapping[str, str],
) -> None:
    """What melange's compile refuses in a ``uses:`` step's ``with:`` (pkg/build/compile.go)."""
    inputs = BUILTIN_INPUTS[name]
    for key, (key_node, _value) in given.items():
        if key not in inputs.names:
            close = difflib.get_close_matches(key, inputs.names, n=1)
            raise ConfigError(
                f"{path}.with.{key}: pipeline {name} has no input {key!r} "
                f"(melange {MELANGE_VERSION} refuses it)",
                where=node_where(where, key_node),
                hint=(f"did you mean {close[0]}? " if close else "")
                + (
                    f"{name} takes: {', '.join(inputs.names)}"
                    if inputs.names
                    else f"{name} takes none"
                ),
            )
    values = {key: _substitute(_text(value), variables) for key, (_k, value) in given.items()}
    for key in inputs.required:
        if not values.get(key):
            raise ConfigError(
                f"{path}: pipeline {name} needs the input {key} "
                f"(melange {MELANGE_VERSION} refuses the step without it)",
                where=node_where(where, given[key][1] if key in given else uses_node),
                hint=f"give it under the step's with: ({key}: ...)",
            )
    for key, (length, what, how) in _HASHES.items():
        value = values.get(key, "")
        known = key in inputs.names and value and "${{" not in value
        if known and (len(value) != length or not set(value) <= _HEX):
            raise ConfigError(
                f"{path}.with.{key}: {value!r} is not {what} "
                f"(melange {MELANGE_VERSION} wants {length} hex digits)",
                where=node_where(where, given[key][1]),
                hint=f"copy it whole, {how}",
            )


def _environment_lines(root: yaml.Node) -> dict[str, int]:
    environment = _get(root, "environment")
    contents = _get(environment, "contents") if environment is not None else None
    packages = _get(contents, "packages") if contents is not None else None
    return {
        str(item.value).strip(): item.start_mark.line + 1
        for item in _items(packages)
        if isinstance(item, yaml.ScalarNode)
    }
