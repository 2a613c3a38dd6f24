"""Hostile or absurd input gets one clear line, early (issue 16, "Why" item 7).

Each row: files written into a small locked project (a copy of the upstream apko-cli
repository, one arch), the command line, the exit code and a regex for the last line on
stderr. The line must name what is wrong and where; nothing may reach a tool (the toolchain
factory fails the test if asked for), and no traceback may show.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from buildkit.cli import main
from buildkit.usecases import build_context

FRAMEWORK = """\
contents:
  keyring:
    - {key}
  repositories:
    - ./repo
{extra}  packages:
    - replayout
archs: [x86_64]
"""

MELANGE = """\
package:
  name: {name}
  version: 1.0.0
  epoch: 0
{subpackages}pipeline:
  - runs: echo hi
"""


def framework(key: str = "./repo/melange.rsa.pub", extra: str = "", head: str = "") -> str:
    return head + FRAMEWORK.format(key=key, extra=extra)


@dataclass(frozen=True, kw_only=True)
class Row:
    name: str
    argv: tuple[str, ...]
    code: int
    message: str  # regex searched in the last stderr line; {root} is the project folder
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


ROWS = [
    Row(
        name="melange package named ../evil",
        files={"packages/evil.yaml": MELANGE.format(name="../evil", subpackages="")},
        argv=("lock",),
        code=2,
        message=r"packages/evil\.yaml: package\.name '\.\./evil' is not a package name \(use "
        r"letters, digits",
    ),
    Row(
        name="melange subpackage named a/b",
        files={
            "packages/ok.yaml": MELANGE.format(
                name="ok", subpackages="subpackages:\n  - name: a/b\n"
            )
        },
        argv=("build",),
        code=2,
        message=r"packages/ok\.yaml: subpackages\[0\]\.name 'a/b' is not a package name",
    ),
    Row(
        name="negative SOURCE_DATE_EPOCH",
        env={"BUILDKIT_SOURCE_DATE_EPOCH": "-1"},
        argv=("build",),
        code=2,
        message=r"BUILDKIT_SOURCE_DATE_EPOCH\): project\.source_date_epoch must be whole seconds "
        r"since 1970 \(an integer >= 0\), not '-1'",
    ),
    Row(
        name="non-numeric SOURCE_DATE_EPOCH",
        env={"BUILDKIT_SOURCE_DATE_EPOCH": "yesterday"},
        argv=("lock",),
        code=2,
        message=r"project\.source_date_epoch must be whole seconds .* not 'yesterday'",
    ),
    Row(
        name="far-future SOURCE_DATE_EPOCH from the environment",
        env={"BUILDKIT_SOURCE_DATE_EPOCH": "99999999999999"},
        argv=("build",),
        code=2,
        message=r"project\.source_date_epoch 99999999999999 is after 9999-12-31.* \(use whole "
        r"seconds from 0 to 253402300799",
    ),
    Row(
        name="far-future SOURCE_DATE_EPOCH in buildkit.toml",
        files={
            "buildkit.toml": '[project]\narchs = ["x86_64"]\nsource_date_epoch = 253402300800\n'
        },
        argv=("build",),
        code=2,
        message=r"{root}/buildkit\.toml: project\.source_date_epoch 253402300800 is after "
        r"9999-12-31",
    ),
    Row(
        name="include outside the project fails in lock",
        files={"frameworks/app.yaml": framework(head="include: ../outside.yaml\n")},
        argv=("lock",),
        code=2,
        message=r"frameworks/app\.yaml: include \S*outside\.yaml is outside the project folder "
        r"{root} \(apko runs in a container that sees only the project folder",
    ),
    Row(
        name="include outside the project fails in build",
        files={"frameworks/app.yaml": framework(head="include: ../outside.yaml\n")},
        argv=("build",),
        code=2,
        message=r"frameworks/app\.yaml: include \S*outside\.yaml is outside the project folder",
    ),
    Row(
        name="key path outside the project",
        files={"frameworks/app.yaml": framework(key="../outside.rsa.pub")},
        argv=("lock",),
        code=2,
        message=r"frameworks/app\.yaml: key \.\./outside\.rsa\.pub is outside the project folder",
    ),
    Row(
        name="@local file:///etc",
        files={"frameworks/app.yaml": framework(extra='    - "@local file:///etc"\n')},
        argv=("lock",),
        code=2,
        message=r"frameworks/app\.yaml: repository @local file:///etc is outside the project "
        r"folder {root}",
    ),
    Row(
        name="garbage .pub in the keyring names the file",
        files={
            "repo/garbage.rsa.pub": b"garbage\n",
            "frameworks/app.yaml": framework(key="./repo/garbage.rsa.pub"),
        },
        argv=("lock",),
        code=2,
        message=r"\./repo/garbage\.rsa\.pub: not a PEM public key",
    ),
    Row(
        name="garbage project .pub names the file",
        files={"keys/buildkit.rsa.pub": b"\x00garbage\n", "keys/buildkit.rsa": b"x"},
        argv=("build",),
        code=2,
        message=r"{root}/keys/buildkit\.rsa\.pub: not a PEM public key",
    ),
    Row(
        name="-C names a file",
        argv=("-C", "{root}/buildkit.toml", "build"),
        code=2,
        message=r"{root}/buildkit\.toml: the project folder is a file, not a folder \(pass -C "
        r"the folder that holds buildkit\.toml: -C {root}; then run `buildkit -C {root} build`\)",
    ),
    Row(
        name="-j 0",
        argv=("build", "-j", "0"),
        code=2,
        message=r"buildkit build: error: argument -j/--jobs: must be at least 1, not 0",
    ),
    Row(
        name="-j -1",
        argv=("build", "-j", "-1"),
        code=2,
        message=r"argument -j/--jobs: must be at least 1, not -1",
    ),
    Row(
        name="--jobs not a number",
        argv=("build", "--jobs", "many"),
        code=2,
        message=r"argument -j/--jobs: expected a whole number, not 'many'",
    ),
    Row(
        name="invalid --repository with --dry-run",
        argv=("publish", "--repository", "team:images", "--dry-run"),
        code=2,
        message=r"--repository: invalid image reference: bad repository 'team:images'",
    ),
    Row(
        name="uppercase --repository with --dry-run",
        argv=("publish", "--repository", "Team/images", "--dry-run"),
        code=2,
        message=r"--repository: invalid image reference: bad repository 'Team/images'",
    ),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, fixtures: Path) -> Path:
    """A locked project; each row works on its own copy."""
    root = tmp_path_factory.mktemp("template") / "project"
    shutil.copytree(fixtures / "apko-cli" / "packages", root / "repo")
    (root / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    (root / "frameworks").mkdir()
    (root / "frameworks" / "app.yaml").write_text(framework())
    (root.parent / "outside.yaml").write_text("archs: [x86_64]\n")
    shutil.copy(root / "repo" / "melange.rsa.pub", root.parent / "outside.rsa.pub")
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, tmp_path_factory.mktemp("cache"))
        assert main(["-C", str(root), "lock"]) == 0
    return root


def _isolate(patch: pytest.MonkeyPatch, cache: Path) -> None:
    for name in [n for n in os.environ if n.startswith("BUILDKIT_")]:
        patch.delenv(name)
    patch.setenv("BUILDKIT_CACHE", str(cache))


def _no_tools(project: object) -> object:
    raise AssertionError("a tool was asked for: the input was not refused early")


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_input_is_refused_early_with_one_clear_line(
    row: Row,
    template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "project"
    shutil.copytree(template, root)
    shutil.copy(template.parent / "outside.yaml", tmp_path / "outside.yaml")
    shutil.copy(template.parent / "outside.rsa.pub", tmp_path / "outside.rsa.pub")
    _isolate(monkeypatch, tmp_path / "cache")
    monkeypatch.setattr(build_context, "default_tools", _no_tools)
    for name, text in row.files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)
    lockfile = (root / "lockfiles" / "app.lock.json").read_bytes()
    argv = [arg.replace("{root}", str(root)) for arg in row.argv]
    if argv[0] != "-C":
        argv = ["-C", str(root), *argv]
    capsys.readouterr()
    code = _exit_code(lambda: main(argv))
    err = capsys.readouterr().err
    assert code == row.code, err
    assert "Traceback" not in err
    last = err.rstrip("\n").splitlines()[-1]
    assert re.search(row.message.replace("{root}", re.escape(str(root))), last), last
    assert (root / "lockfiles" / "app.lock.json").read_bytes() == lockfile


def _exit_code(call: Callable[[], int]) -> int:
    """main's return value, or argparse's exit status for a usage error."""
    try:
        return call()
    except SystemExit as exc:
        return int(exc.code or 0)


def test_an_include_that_is_a_symlink_out_of_the_project_is_outside(
    template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """apko's container does not follow a link out of the mounted project folder either."""
    root = tmp_path / "project"
    shutil.copytree(template, root)
    (tmp_path / "outside.yaml").write_text("archs: [x86_64]\n")
    (root / "base.yaml").symlink_to(tmp_path / "outside.yaml")
    (root / "frameworks" / "app.yaml").write_text(framework(head="include: base.yaml\n"))
    _isolate(monkeypatch, tmp_path / "cache")
    capsys.readouterr()
    assert main(["-C", str(root), "lock"]) == 2
    last = capsys.readouterr().err.rstrip("\n").splitlines()[-1]
    assert re.search(
        r"include \S*/project/base\.yaml links to \S*/outside\.yaml, which is outside the "
        r"project folder",
        last,
    ), last
