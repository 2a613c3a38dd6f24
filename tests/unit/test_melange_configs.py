"""Every melange config in packages/ against melange v0.59's rules, and the ASP.NET package's
per-arch download.

melange decodes a config with yaml.v3 in known-fields mode (pkg/config.ParseConfiguration), so
an unknown key anywhere is an error: the schema below lists the keys of its Configuration
structs. ``environment`` is an apko ImageConfiguration and goes through buildkit.framework.
Pipeline conditions (``if:``) are evaluated the way melange does: ``${{...}}`` replaced by the
quoted value (pkg/util.MutateAndQuoteStringFromMap), then pkg/cond's grammar: quoted strings
compared with == or !=, combined left to right with && and ||, grouped with parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from buildkit.apk.arch import oci_arch
from buildkit.framework import parse_config
from buildkit.melange import package_config_paths, parse_package_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = package_config_paths(ROOT / "packages")

# --------------------------------------------------------------------------------------------
# melange v0.59.1's config keys (pkg/config/config.go). "*" = any value, checked elsewhere.

_ANY = "*"


def _keys(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names, _ANY)


_PIPELINE: dict[str, Any] = {
    **_keys("if", "name", "uses", "with", "runs", "inputs", "label", "working-directory"),
    **_keys("environment"),  # map[string]string: variables, not an apko config
    "needs": _keys("packages"),
    "assertions": _keys("required-steps"),
}
_PIPELINE["pipeline"] = [_PIPELINE]
_SCRIPTLETS = {
    "trigger": _keys("script", "paths"),
    **_keys("pre-install", "post-install", "pre-deinstall", "post-deinstall"),
    **_keys("pre-upgrade", "post-upgrade"),
}
_TEST = {"environment": "apko", "pipeline": [_PIPELINE]}
_COMMON = {
    **_keys("description", "annotations", "url", "commit"),
    "dependencies": _keys(
        "runtime", "provides", "replaces", "provider-priority", "replaces-priority"
    ),
    "options": _keys("no-provides", "no-depends", "no-commands", "no-versioned-shlib-deps"),
    "scriptlets": _SCRIPTLETS,
    "checks": _keys("disabled"),
    "setcap": [_keys("path", "add", "reason")],
}
_MONITOR = _keys(
    "identifier",
    "strip-prefix",
    "strip-suffix",
    "tag-filter",
    "tag-filter-prefix",
    "tag-filter-contains",
    "use-tag",
    "version-filter-contains",
    "version-filter-prefix",
)
_RESOURCES = _keys("cpu", "cpumodel", "memory", "disk")
SCHEMA: dict[str, Any] = {
    "package": {
        **_COMMON,
        **_keys("name", "version", "epoch", "target-architecture", "cpe", "timeout"),
        "copyright": [
            _keys("paths", "attestation", "license", "license-path", "detection-override")
        ],
        "resources": _RESOURCES,
        "test-resources": _RESOURCES,
    },
    "environment": "apko",
    "capabilities": _keys("add", "drop"),
    "pipeline": [_PIPELINE],
    "subpackages": [
        {**_COMMON, **_keys("if", "range", "name"), "pipeline": [_PIPELINE], "test": _TEST}
    ],
    "data": [_keys("name", "items")],
    "update": {
        **_keys("enabled", "manual", "require-sequential", "shared", "version-separator"),
        **_keys("ignore-regex-patterns", "oci", "version_data", "exclude-reason", "schedule"),
        **_keys("enable-prerelease-tags"),
        "release-monitor": _MONITOR,
        "github": _MONITOR,
        "git": _MONITOR,
        "version-transform": [_keys("match", "replace")],
    },
    **_keys("vars", "options"),
    "var-transforms": [_keys("from", "match", "replace", "to")],
    "test": _TEST,
}

# Inputs of the built-in pipelines these configs use (melange pkg/build/pipelines/*.yaml).
BUILTIN_INPUTS = {
    "fetch": frozenset(
        {
            "uri",
            "expected-sha256",
            "expected-sha512",
            "expected-none",
            "strip-components",
            "directory",
            "extract",
            "purl-name",
            "purl-version",
            "timeout",
            "dns-timeout",
            "retry-limit",
            "delete",
            "reason",
        }
    ),
}
# Substitutions melange defines for a package's own pipelines (pkg/config/vars.go).
BUILTIN_VARIABLES = frozenset(
    {
        "package.name",
        "package.version",
        "package.full-version",
        "package.epoch",
        "package.description",
        "package.srcdir",
        "targets.outdir",
        "targets.destdir",
        "targets.contextdir",
        "context.name",
        "host.triplet.gnu",
        "host.triplet.rust",
        "cross.triplet.gnu.glibc",
        "cross.triplet.gnu.musl",
        "cross.triplet.rust.glibc",
        "cross.triplet.rust.musl",
        "build.arch",
        "build.goarch",
    }
)
_REFERENCE = re.compile(r"\$\{\{\s*([A-Za-z0-9._-]+)\s*\}\}")


def unknown_keys(node: Any, schema: Any, path: str = "") -> list[str]:
    """Dotted paths of keys the schema does not know (melange would refuse the config)."""
    if schema == _ANY or schema == "apko" or node is None:
        return []
    if isinstance(schema, list):
        items = node if isinstance(node, list) else []
        return [
            found
            for n, item in enumerate(items)
            for found in unknown_keys(item, schema[0], f"{path}[{n}]")
        ]
    if not isinstance(node, dict):
        return [f"{path} (expected a mapping)"]
    found: list[str] = []
    for key, value in node.items():
        dotted = f"{path}.{key}" if path else str(key)
        found += [dotted] if key not in schema else unknown_keys(value, schema[key], dotted)
    return found


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_bytes())
    assert isinstance(document, dict)
    return document


def steps(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step, nested pipelines included."""
    return [s for step in pipeline for s in (step, *steps(step.get("pipeline", [])))]


def all_steps(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = steps(document.get("pipeline", [])) + steps(
        document.get("test", {}).get("pipeline", [])
    )
    for sub in document.get("subpackages", []):
        found += steps(sub.get("pipeline", [])) + steps(sub.get("test", {}).get("pipeline", []))
    return found


# --------------------------------------------------------------------------------------------
# melange's substitution and condition language


def variables(document: Mapping[str, Any], arch: str) -> dict[str, str]:
    """What melange substitutes when it builds ``document`` for ``arch``."""
    package = document["package"]
    name, version, epoch = package["name"], str(package["version"]), str(package.get("epoch", 0))
    found = {
        "package.name": name,
        "package.version": version,
        "package.epoch": epoch,
        "package.full-version": f"{version}-r{epoch}",
        "targets.destdir": f"/home/build/melange-out/{name}",
        "targets.contextdir": f"/home/build/melange-out/{name}",
        "build.arch": arch,
        "build.goarch": oci_arch(arch),
    }
    for key, value in (document.get("vars") or {}).items():
        found[f"vars.{key}"] = substitute(str(value), found)
    return found


def substitute(text: str, values: Mapping[str, str], *, quote: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values[match.group(1)]  # KeyError: melange says "variable ... not defined"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if quote else value

    return _REFERENCE.sub(replace, text)


class Condition:
    """pkg/cond.Evaluate over an already substituted expression."""

    _ESCAPES: ClassVar[dict[str, str]] = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    @classmethod
    def evaluate(cls, text: str) -> bool:
        parser = cls(text)
        result = parser.expression()
        parser.skip()
        if parser.pos != len(text):
            raise ValueError(f"unexpected trailing input at position {parser.pos}")
        return result

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expression(self) -> bool:
        result = self.atom()
        while True:  # both sides are always parsed: no short-circuit, as in Go
            if self.take("&&"):
                rhs = self.atom()
                result = result and rhs
            elif self.take("||"):
                rhs = self.atom()
                result = result or rhs
            else:
                return result

    def atom(self) -> bool:
        if self.take("("):
            result = self.expression()
            if not self.take(")"):
                raise ValueError(f"expected ')' at position {self.pos}")
            return result
        lhs = self.value()
        for op in ("==", "!="):
            if self.take(op):
                return (lhs == self.value()) == (op == "==")
        raise ValueError(f"expected '==' or '!=' at position {self.pos}")

    def value(self) -> str:
        self.skip()
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ("'", '"'):
            raise ValueError(f"expected a quoted string at position {self.pos}")
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                char = self._ESCAPES.get(self.text[self.pos], "\\" + self.text[self.pos])
            chars.append(char)
            self.pos += 1
        if self.pos >= len(self.text):
            raise ValueError("unterminated string literal")
        self.pos += 1
        return "".join(chars)


def runs_on(step: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    condition = step.get("if")
    return condition is None or Condition.evaluate(substitute(condition, values, quote=True))


# --------------------------------------------------------------------------------------------
# Every config in packages/


def test_there_are_configs_to_check() -> None:
    names = {path.stem for path in CONFIGS}
    assert {"dotnet-aspnet-8", "password-generator"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_uses_only_keys_melange_knows(path: Path) -> None:
    assert unknown_keys(load(path), SCHEMA) == []


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_build_and_test_environments_pass_apkos_rules(path: Path) -> None:
    document = load(path)
    sections = [document.get("environment"), (document.get("test") or {}).get("environment")]
    for n, section in enumerate(s for s in sections if s):
        parse_config(yaml.safe_dump(section).encode(), where=f"{path.name}#{n}")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_buildkit_reads_name_version_and_archs(path: Path) -> None:
    config = parse_package_config(path.read_bytes(), path=path)
    assert config.name == path.stem  # one config per package, named after it
    assert re.fullmatch(r"\d+(\.\d+)*-r\d+", config.full_version)
    assert set(config.target_archs) <= {"x86_64", "aarch64"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_substitution_is_defined(path: Path) -> None:
    document = load(path)
    defined = BUILTIN_VARIABLES | {f"vars.{k}" for k in document.get("vars") or {}}
    defined |= {f"vars.{t['to']}" for t in document.get("var-transforms") or []}
    used = set(_REFERENCE.findall(path.read_text(encoding="utf-8")))
    assert used - defined == set()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_built_in_pipelines_get_known_inputs_and_a_checksum(path: Path) -> None:
    for step in all_steps(load(path)):
        if "uses" not in step:
            assert step.get("runs") or step.get("pipeline"), step
            continue
        inputs = set(step.get("with") or {})
        assert inputs <= BUILTIN_INPUTS[step["uses"]], step["uses"]
        if step["uses"] == "fetch":
            assert "uri" in inputs
            assert inputs & {"expected-sha256", "expected-sha512"}


# --------------------------------------------------------------------------------------------
# ASP.NET Core 8: one tarball per arch, each with Microsoft's published SHA-512

ASPNET = ROOT / "packages" / "dotnet-aspnet-8.yaml"
ASPNET_VERSION = "8.0.29"
# From dotnet/core release-notes/8.0/releases.json (8.0.29, aspnetcore-runtime files).
PUBLISHED_SHA512 = {
    "linux-musl-x64": "7398a902ffb2eb1885b31ada4bc77521150918ea14f66cbbc7a1d15d7a42b9ec"
    "e6154cdf605897844606902f6746e4d23e5f510ee0075f19563dd6175815abb3",
    "linux-musl-arm64": "89bf11f283cc0cf6ce272fdbbbaf356f0de35ffb3429c88feb05ece95dba27cc"
    "e2c41c1eb4db55a13f42701916772fcf040660810bfce8eca99c03c948c376e8",
}


def fetches_for(arch: str) -> list[dict[str, str]]:
    """The fetch steps melange runs on ``arch``, with their inputs substituted."""
    document = load(ASPNET)
    values = variables(document, arch)
    return [
        {key: substitute(str(value), values) for key, value in step["with"].items()}
        for step in all_steps(document)
        if step.get("uses") == "fetch" and runs_on(step, values)
    ]


@pytest.mark.parametrize(
    ("arch", "rid"), [("x86_64", "linux-musl-x64"), ("aarch64", "linux-musl-arm64")]
)
def test_aspnet_fetches_its_archs_tarball_with_its_checksum(arch: str, rid: str) -> None:
    (fetch,) = fetches_for(arch)
    assert fetch["uri"] == (
        f"https://builds.dotnet.microsoft.com/dotnet/aspnetcore/Runtime/{ASPNET_VERSION}/"
        f"aspnetcore-runtime-{ASPNET_VERSION}-{rid}.tar.gz"
    )
    assert re.fullmatch(r"[0-9a-f]{128}", fetch["expected-sha512"])
    assert fetch["expected-sha512"] == PUBLISHED_SHA512[rid]
    assert "expected-sha256" not in fetch


@pytest.mark.parametrize("arch", ["armv7", "x86", "ppc64le"])
def test_aspnet_fetches_nothing_for_archs_it_does_not_target(arch: str) -> None:
    assert fetches_for(arch) == []
    config = parse_package_config(ASPNET.read_bytes(), path=ASPNET)
    assert not config.builds_for(arch)


def test_aspnet_version_is_the_one_fetched() -> None:
    config = parse_package_config(ASPNET.read_bytes(), path=ASPNET)
    assert config.version == ASPNET_VERSION
    assert set(config.runtime) == {
        "ca-certificates-bundle",
        "libgcc",
        "libssl3",
        "libstdc++",
        "musl",
        "zlib",
    }
