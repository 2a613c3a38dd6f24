"""The pipelines built into melange v0.59.2: what a ``uses:`` may name without a pipeline dir.

Data, not code: the names of the YAML files under melange's ``pkg/build/pipelines/`` at the
pinned version (``toolchain/versions.env``), which melange embeds and looks up as
``pipelines/<uses>.yaml`` (pkg/build/compile.go, readUses). Read from the module source the
Go module proxy serves for chainguard.dev/melange@v0.59.2. Bump with MELANGE_VERSION: the test
``tests/unit/test_melange_check.py`` pins the version this list is for.
"""

from __future__ import annotations

MELANGE_VERSION = "v0.59.2"

BUILTIN_PIPELINES: frozenset[str] = frozenset(
    {
        "R/build",
        "autoconf/configure",
        "autoconf/make",
        "autoconf/make-install",
        "cargo/build",
        "cmake/build",
        "cmake/configure",
        "cmake/install",
        "fetch",
        "git-am",
        "git-checkout",
        "go/build",
        "go/build/v2",
        "go/bump",
        "go/covdata",
        "go/install",
        "llvm/covreport",
        "maven/configure-mirror",
        "maven/pombump",
        "meson/compile",
        "meson/configure",
        "meson/install",
        "npm/install",
        "patch",
        "pecl/install",
        "pecl/phpize",
        "perl/cleanup",
        "perl/make",
        "python/build",
        "python/build-wheel",
        "python/import",
        "python/install",
        "python/test",
        "ruby/build",
        "ruby/clean",
        "ruby/install",
        "split/alldocs",
        "split/bin",
        "split/debug",
        "split/dev",
        "split/infodir",
        "split/lib",
        "split/locales",
        "split/manpages",
        "split/static",
        "strip",
        "xcover/ensure",
        "xcover/profile",
        "xcover/status",
        "xcover/stop",
        "xcover/wait",
    }
)
