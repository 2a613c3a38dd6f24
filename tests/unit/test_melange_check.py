"""melange configs are checked before melange runs: schema, ``uses:``, fetch checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildkit.errors import ConfigError
from buildkit.melange_check import check_melange_config
from buildkit.melange_pipelines import BUILTIN_PIPELINES, MELANGE_VERSION
from buildkit.project.config import load_project
from buildkit.usecases.package_builds import build_local_packages

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
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
      expected-sha256: 0123
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
        ("      expected-sha256: 0123\n", "",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum is not "
         "hermetic"),
        ("      expected-sha256: 0123\n", "      expected-none: true\n",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum"),
        ("    with:\n", "    with: [a]\n    x:\n",
         "packages/hello.yaml:11: pipeline[0].with must be a mapping, not a list"),
        ("  - runs: echo hi\n", "  - runs: [echo]\n",
         "packages/hello.yaml:14: pipeline[1].runs must be a string, not a list"),
        ("pipeline:\n", "pipeline:\n  - uses: fetch\n    with: {uri: x, expected-sha512: ''}\n",
         "packages/hello.yaml:10: pipeline[0]: fetch without an expected checksum"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_with_file_and_line(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        check_melange_config(GOOD.replace(old, new, 1).encode(), where="packages/hello.yaml")
    assert str(err.value).startswith(message), str(err.value)


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
