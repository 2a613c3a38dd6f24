"""melange configs are checked before melange runs: schema, ``uses:``, fetch checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildkit.errors import ConfigError
from buildkit.melange_check import check_melange_config
from buildkit.melange_pipelines import BUILTIN_INPUTS, BUILTIN_PIPELINES, MELANGE_VERSION
from buildkit.project.config import load_project
from buildkit.usecases.package_builds import build_local_packages

ROOT = Path(__file__).resolve().parents[2]
SHA256 = "0123abcd" * 8

GOOD = f"""\
package:
  name: hello
  version: 1.0.0
  epoch: 0
environment:
  contents:
    packages:
      - busybox
pipeline:
  - uses: fetch
    with:
      uri: https://example.com/a.tar.gz
      expected-sha256: {SHA256}
  - runs: echo hi
subpackages:
  - name: hello-doc
    pipeline:
      - uses: split/manpages
"""


def test_the_builtin_pipelines_are_those_of_the_pinned_melange() -> None:
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "toolchain" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert versions["MELANGE_VERSION"] == MELANGE_VERSION
    assert len(BUILTIN_PIPELINES) == 51
    assert {"fetch", "git-checkout", "patch", "strip", "go/build", "split/dev"} <= BUILTIN_PIPELINES
    assert "meson/compile" in BUILTIN_PIPELINES
    assert "cmake/build" in BUILTIN_PIPELINES


@pytest.mark.parametrize("path", sorted((ROOT / "packages").glob("*.yaml")), ids=lambda p: p.name)
def test_the_project_configs_pass(path: Path) -> None:
    check_melange_config(path.read_bytes(), where=str(path))


def test_a_good_config_passes_and_says_where_its_environment_packages_are() -> None:
    checked = check_melange_config(GOOD.encode(), where="packages/hello.yaml")
    assert checked.environment_lines == {"busybox": 8}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  epoch: 0\n", "  epoch: 0\n  epohc: 1\n",
         "packages/hello.yaml:5: unknown key package.epohc (melange v0.59.2 refuses it) "
         "(did you mean epoch?"),
        ("  epoch: 0\n", "  epoch: zero\n",
         "packages/hello.yaml:4: package.epoch must be an integer, not 'zero'"),
        ("    packages:\n", "    pakages:\n",
         "packages/hello.yaml:7: unknown key environment.contents.pakages"),
        ("  - runs: echo hi\n", "  - run: echo hi\n",
         "packages/hello.yaml:14: unknown key pipeline[1].run (melange v0.59.2 refuses it) "
         "(did you mean runs?"),
        ("      - uses: split/manpages\n", "      - uses: split/manpage\n",
         "packages/hello.yaml:18: subpackages[0].pipeline[0].uses: melange v0.59.2 has no "
         "pipeline 'split/manpage' (did you mean split/manpages"),
        (f"      expected-sha256: {SHA256}\n", "",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum is not "
         "hermetic"),
        (f"      expected-sha256: {SHA256}\n", "      expected-none: true\n",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum"),
        ("    with:\n", "    with: [a]\n    x:\n",
         "packages/hello.yaml:11: pipeline[0].with must be a mapping, not a list"),
        ("  - runs: echo hi\n", "  - runs: [echo]\n",
         "packages/hello.yaml:14: pipeline[1].runs must be a string, not a list"),
        ("pipeline:\n", "pipeline:\n  - uses: fetch\n    with: {uri: x, expected-sha512: ''}\n",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum"),
        # what melange's validatePipelines (pkg/config) and compile (pkg/build) refuse
        ("  - runs: echo hi\n", "  - runs: echo hi\n    uses: strip\n",
         "packages/hello.yaml:14: pipeline[1]: a step with both uses: and runs: (melange v0.59.2 "
         "refuses it) (make them two steps"),
        ("  - runs: echo hi\n", "  - runs: echo hi\n    with:\n      dir: x\n",
         "packages/hello.yaml:15: pipeline[1]: with: in a step without uses: (melange v0.59.2 "
         "refuses it)"),
        ("      uri: https", "      url: https",
         "packages/hello.yaml:12: pipeline[0].with.url: pipeline fetch has no input 'url' "
         "(melange v0.59.2 refuses it) (did you mean uri? fetch takes: uri, strip-components,"),
        ("      - uses: split/manpages\n", "      - uses: split/manpages\n        with: {pkg: x}\n",
         "packages/hello.yaml:19: subpackages[0].pipeline[0].with.pkg: pipeline split/manpages "
         "has no input 'pkg' (melange v0.59.2 refuses it) (did you mean package? split/manpages "
         "takes: package)"),
        ("      uri: https://example.com/a.tar.gz\n", "",
         "packages/hello.yaml:10: pipeline[0]: pipeline fetch needs the input uri (melange "
         "v0.59.2 refuses the step without it) (give it under the step's with: (uri: ...))"),
        ("  - runs: echo hi\n", "  - uses: git-checkout\n    with:\n      repository: ''\n",
         "packages/hello.yaml:16: pipeline[1]: pipeline git-checkout needs the input repository"),
        (f"expected-sha256: {SHA256}", "expected-sha256: 0123",
         "packages/hello.yaml:13: pipeline[0].with.expected-sha256: '0123' is not a sha256 "
         "checksum (melange v0.59.2 wants 64 hex digits) (copy it whole, as sha256sum prints "
         "it)"),
        (f"expected-sha256: {SHA256}", f"expected-sha512: {SHA256}",
         "packages/hello.yaml:13: pipeline[0].with.expected-sha512: '0123abcd"),
        ("  - runs: echo hi\n",
         "  - uses: git-checkout\n    with:\n      repository: https://x/y\n"
         "      expected-commit: abc123\n",
         "packages/hello.yaml:17: pipeline[1].with.expected-commit: 'abc123' is not a full commit "
         "hash (melange v0.59.2 wants 40 hex digits)"),
        ("  - runs: echo hi\n", "  - pipeline:\n      - uses: patch\n        runs: x\n",
         "packages/hello.yaml:16: pipeline[1].pipeline[0]: a step with both uses: and runs:"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_with_file_and_line(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        check_melange_config(GOOD.replace(old, new, 1).encode(), where="packages/hello.yaml")
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  - runs: echo hi\n", "  - name: a step with nothing to run\n"),
        ("  - runs: echo hi\n", "  - runs: echo hi\n    with: {}\n"),
        (f"expected-sha256: {SHA256}", "expected-sha256: ${{vars.unknown}}"),
        ("  - runs: echo hi\n", "  - uses: strip\n    with: {anything: x}\n    pipeline:\n"
         "      - runs: echo the nested steps run, uses is ignored\n"),
        ("subpackages:\n", "test:\n  pipeline:\n    - uses: strip\n      runs: echo hi\n"
         "subpackages:\n"),
    ],
)  # fmt: skip
def test_what_melange_accepts_passes(old: str, new: str) -> None:
    assert old in GOOD
    check_melange_config(GOOD.replace(old, new, 1).encode(), where="packages/hello.yaml")


@pytest.mark.parametrize(("sha", "ok"), [(SHA256, True), ("xyz", False)])
def test_a_checksum_in_vars_is_checked_as_melange_substitutes_it(sha: str, ok: bool) -> None:
    text = GOOD.replace(SHA256, "${{vars.sha}}") + f"vars:\n  sha: {sha}\n"
    if ok:
        check_melange_config(text.encode(), where="packages/hello.yaml")
        return
    with pytest.raises(ConfigError, match=r"^packages/hello\.yaml:13: .*'xyz' is not a sha256"):
        check_melange_config(text.encode(), where="packages/hello.yaml")


def test_the_inputs_of_the_builtin_pipelines_are_those_of_the_pinned_melange() -> None:
    assert BUILTIN_INPUTS["fetch"].required == ("uri",)
    assert BUILTIN_INPUTS["git-checkout"].required == ("repository",)
    assert BUILTIN_INPUTS["go/build"].required == ("packages", "output")
    assert "expected-commit" in BUILTIN_INPUTS["git-checkout"].optional
    assert BUILTIN_INPUTS["split/manpages"].names == ("package",)


def test_variables_in_uses_are_left_to_melange() -> None:
    text = GOOD.replace("  - runs: echo hi", "  - uses: ${{vars.step}}")
    check_melange_config(text.encode(), where="packages/hello.yaml")


class NoContainers:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a container was started ({name})")


def test_a_typo_fails_before_any_container_or_index_is_touched(tmp_path: Path) -> None:
    (tmp_path / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "a.yaml").write_text(GOOD.replace("hello", "a"))
    (tmp_path / "packages" / "b.yaml").write_text(
        GOOD.replace("hello", "b").replace("split/manpages", "split/manpagez")
    )
    project = load_project(tmp_path)
    with pytest.raises(ConfigError, match=r"packages/b\.yaml:18: .*split/manpagez"):
        # `a` comes first in build order and is fine: nothing of it may run either
        build_local_packages(project, ["x86_64"], tools=NoContainers)
    assert not (tmp_path / "dist" / "logs").exists()
