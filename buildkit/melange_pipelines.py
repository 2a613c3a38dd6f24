"""The pipelines built into melange v0.59.2: what a ``uses:`` may name without a pipeline dir.

Data, not code: the YAML files under melange's ``pkg/build/pipelines/`` at the pinned version
(``toolchain/versions.env``), which melange embeds and looks up as ``pipelines/<uses>.yaml``
(pkg/build/compile.go, readUses), each with the ``inputs:`` its ``with:`` may give: melange
refuses any other (compile.go: "undefined input") and a ``required: true`` one without a
default that the step leaves empty (pipeline.go, validateWith: "required input ... is
missing"). Read from the module source the Go module proxy serves for
chainguard.dev/melange@v0.59.2. Bump with MELANGE_VERSION: the test
``tests/unit/test_melange_check.py`` pins the version this table is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MELANGE_VERSION = "v0.59.2"


@dataclass(frozen=True)
class Inputs:
    """A pipeline's inputs: those a step must give, and the others it may."""

    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.required + self.optional


BUILTIN_INPUTS: Mapping[str, Inputs] = {
    "R/build": Inputs(("package", "version"), ("path",)),
    "autoconf/configure": Inputs((), ("dir", "host", "build", "opts")),
    "autoconf/make": Inputs((), ("dir", "opts", "targets")),
    "autoconf/make-install": Inputs((), ("dir", "opts", "targets")),
    "cargo/build": Inputs(
        (),
        ("output", "opts", "modroot", "rustflags", "prefix", "install-dir", "output-dir", "jobs"),
    ),
    "cmake/build": Inputs((), ("output-dir", "opts")),
    "cmake/configure": Inputs((), ("output-dir", "opts")),
    "cmake/install": Inputs((), ("output-dir",)),
    "fetch": Inputs(
        ("uri",),
        (
            "strip-components",
            "directory",
            "extract",
            "expected-sha256",
            "expected-sha512",
            "expected-none",
            "purl-name",
            "purl-version",
            "timeout",
            "dns-timeout",
            "retry-limit",
            "delete",
            "reason",
        ),
    ),
    "git-am": Inputs(("patches",), ()),
    "git-checkout": Inputs(
        ("repository",),
        (
            "destination",
            "depth",
            "branch",
            "tag",
            "expected-commit",
            "expected-commit-is-branch-tip",
            "recurse-submodules",
            "shallow-submodules",
            "submodule-jobs",
            "cherry-picks",
            "type-hint",
            "sparse-paths",
            "max-retries",
            "initial-backoff",
            "max-backoff",
            "reason",
        ),
    ),
    "go/build": Inputs(
        ("packages", "output"),
        (
            "go-package",
            "tags",
            "toolchaintags",
            "vendor",
            "modroot",
            "prefix",
            "ldflags",
            "strip",
            "install-dir",
            "deps",
            "experiments",
            "extra-args",
            "amd64",
            "arm64",
            "buildmode",
            "tidy",
            "ignore-untracked-files",
        ),
    ),
    "go/build/v2": Inputs(
        (),
        (
            "packages",
            "tags",
            "toolchaintags",
            "output",
            "vendor",
            "modroot",
            "prefix",
            "ldflags",
            "strip",
            "install-dir",
            "experiments",
            "extra-args",
            "amd64",
            "arm64",
            "buildmode",
            "ignore-untracked-files",
        ),
    ),
    "go/bump": Inputs(
        ("deps",), ("modroot", "go-version", "replaces", "tidy", "show-diff", "tidy-compat", "work")
    ),
    "go/covdata": Inputs((), ("package", "cover-dir")),
    "go/install": Inputs(
        ("package",),
        (
            "go-package",
            "version",
            "prefix",
            "install-dir",
            "ldflags",
            "strip",
            "tags",
            "toolchaintags",
            "experiments",
            "amd64",
            "arm64",
        ),
    ),
    "llvm/covreport": Inputs((), ("package", "object", "ignore-filename-regex")),
    "maven/configure-mirror": Inputs((), ()),
    "maven/pombump": Inputs(
        (),
        (
            "patch-file",
            "properties-file",
            "dependencies",
            "properties",
            "pom",
            "debug",
            "show-dependency-tree",
        ),
    ),
    "meson/compile": Inputs((), ("output-dir",)),
    "meson/configure": Inputs((), ("output-dir", "opts")),
    "meson/install": Inputs((), ("output-dir",)),
    "npm/install": Inputs(("package", "version"), ("prefix", "overrides", "npm-package")),
    "patch": Inputs((), ("strip-components", "fuzz", "patches", "series")),
    "pecl/install": Inputs(("extension",), ()),
    "pecl/phpize": Inputs((), ("php-config", "prefix")),
    "perl/cleanup": Inputs((), ()),
    "perl/make": Inputs((), ()),
    "python/build": Inputs((), ()),
    "python/build-wheel": Inputs((), ()),
    "python/import": Inputs((), ("python", "import", "from", "imports", "venv")),
    "python/install": Inputs((), ()),
    "python/test": Inputs(("command",), ()),
    "ruby/build": Inputs(("gem",), ("dir", "output", "opts")),
    "ruby/clean": Inputs((), ()),
    "ruby/install": Inputs(("version",), ("dir", "gem", "gem-file", "opts")),
    "split/alldocs": Inputs((), ("package",)),
    "split/bin": Inputs((), ("package",)),
    "split/debug": Inputs((), ("package",)),
    "split/dev": Inputs((), ("package", "prefix")),
    "split/infodir": Inputs((), ("package",)),
    "split/lib": Inputs((), ("package", "patterns", "paths")),
    "split/locales": Inputs((), ("package",)),
    "split/manpages": Inputs((), ("package",)),
    "split/static": Inputs((), ("package",)),
    "strip": Inputs((), ("opts",)),
    "xcover/ensure": Inputs((), ("package", "min-coverage")),
    "xcover/profile": Inputs(
        ("executable-path",),
        (
            "package",
            "exclude-functions",
            "include-functions",
            "scope",
            "log-level",
            "verbose",
            "wait-timeout",
        ),
    ),
    "xcover/status": Inputs((), ("package",)),
    "xcover/stop": Inputs((), ("package",)),
    "xcover/wait": Inputs((), ("package", "wait-timeout")),
}

BUILTIN_PIPELINES: frozenset[str] = frozenset(BUILTIN_INPUTS)
