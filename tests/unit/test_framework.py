"""Framework (apko config) loading: apko's schema, error locations, include, config checksum."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from buildkit.errors import ConfigError
from buildkit.framework import (
    Repository,
    key_name,
    load_framework,
    merge_configs,
    parse_config,
    parse_repository,
)

# apko's own examples (examples/nginx.yaml, examples/options.yaml), which apko accepts.
NGINX = """\
contents:
  keyring:
    - https://packages.wolfi.dev/os/wolfi-signing.rsa.pub
  repositories:
    - https://packages.wolfi.dev/os
  packages:
    - wolfi-baselayout
    - nginx

entrypoint:
  type: service-bundle
  services:
    nginx: /usr/sbin/nginx -c /etc/nginx/nginx.conf -g "daemon off;"

environment:
  PATH: /usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin

accounts:
  groups:
    - groupname: nginx
      gid: 10000
  users:
    - username: nginx
      uid: 10000

paths:
  - path: /run/nginx
    type: directory
    uid: 10000
    gid: 10000
    permissions: 0o755
  - path: /etc/nginx/http.d/default.conf
    type: hardlink
    source: /etc/nginx/nginx.conf.default
    uid: 10000
    gid: 10000
    permissions: 0o644

work-dir: /usr/share/nginx

annotations:
  foo: bar

archs:
  - amd64
"""

FULL = """\
contents:
  repositories: [https://packages.wolfi.dev/os, "@local ./packages/"]
  build_repositories: [./build]
  runtime_repositories: [https://example.org/runtime]
  keyring: [./keys/buildkit.rsa.pub]
  runtime_keyring: [{name: k.rsa.pub, content: PEM}]
  packages: [wolfi-base, hello@local]
  baseimage: {image: ./base, apkindex: ./base-index}
entrypoint: {command: /bin/sh -l, shell-fragment: "", type: "", services: {}}
cmd: --help
stop-signal: SIGTERM
work-dir: /app
accounts:
  run-as: "65532"
  users: [{username: app, uid: 65532, gid: 65532, shell: /bin/sh, homedir: /home/app}]
  groups: [{groupname: app, gid: 65532, members: [app]}]
archs: [x86_64, arm64, amd64]
environment: {LANG: C.UTF-8, VERSION: 1.10}
paths: [{path: /app, type: directory, uid: 1, gid: 1, permissions: 0755, recursive: yes}]
vcs-url: https://example.org/repo
annotations: {org.opencontainers.image.title: demo}
volumes: [/data]
layering: {strategy: origin, budget: 10}
format: tar
certificates: {additional: [{name: corp, content: PEM}], providers: [ca-certificates]}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_apko_example_loads(tmp_path: Path) -> None:
    _write(tmp_path, "nginx.yaml", NGINX)
    framework = load_framework("nginx.yaml", base_dir=tmp_path)
    assert framework.name == "nginx"
    assert framework.config_name == "nginx.yaml"
    assert framework.archs == ("x86_64",)
    assert framework.contents.packages == ("wolfi-baselayout", "nginx")
    assert framework.contents.repositories == (Repository(url="https://packages.wolfi.dev/os"),)
    assert framework.document["paths"][0]["permissions"] == 0o755


def test_every_apko_key_is_accepted_and_typed(tmp_path: Path) -> None:
    _write(tmp_path, "full.yaml", FULL)
    framework = load_framework("full.yaml", base_dir=tmp_path)
    assert framework.archs == ("x86_64", "aarch64")  # OCI names mapped, duplicates dropped
    assert framework.contents.repositories[1] == Repository(url="./packages", tag="local")
    assert [str(r) for r in framework.resolution_repositories] == [
        "./build",
        "@local ./packages",
        "https://packages.wolfi.dev/os",
    ]
    doc = framework.document
    assert doc["environment"]["VERSION"] == "1.10"  # a string field keeps its source text
    assert doc["accounts"]["run-as"] == "65532"
    assert doc["paths"][0] == {
        "path": "/app",
        "type": "directory",
        "uid": 1,
        "gid": 1,
        "permissions": 0o755,  # Go's base-0 integers: a leading 0 is octal
        "recursive": True,
    }
    assert doc["layering"] == {"strategy": "origin", "budget": 10}


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("contents:\n  packages: [a]\nentrypiont: {}\n", "unknown key entrypiont", 3),
        ("contents:\n  pakages: [a]\n", "unknown key contents.pakages", 2),
        (
            "accounts:\n  users:\n    - username: a\n      uid: 1\n      home: /x\n",
            "unknown key accounts.users[0].home",
            5,
        ),
        (
            "paths:\n  - path: /a\n    mode: 0755\n",
            "unknown key paths[0].mode",
            3,
        ),
        ("contents:\n  packages: wolfi-base\n", "contents.packages must be a list", 2),
        ("contents: [a]\n", "contents must be a mapping, not a list", 1),
        ("cmd:\n  - a\n", "cmd must be a string, not a list", 2),
        ("accounts:\n  users:\n    - uid: -1\n", "accounts.users[0].uid must be a non-neg", 3),
        ("accounts:\n  groups:\n    - gid: abc\n", "accounts.groups[0].gid must be a non-neg", 3),
        ("paths:\n  - recursive: maybe\n", "paths[0].recursive must be true or false", 2),
        ("archs: [x86_64, sparc]\n", "archs[1] must be an architecture, not 'sparc'", 1),
        ("environment:\n  A: [1]\n", "environment.A must be a string, not a list", 2),
        ("format: squashfs\n", "invalid format 'squashfs'", None),
        ("cmd: a\ncmd: b\n", "duplicate key cmd", 2),
        ("contents:\n  repositories: ['@local']\n", "invalid repository '@local'", None),
        ("contents:\n  repositories: ['a b c']\n", "invalid repository 'a b c'", None),
        ("", "the config is empty", None),
        ("- a\n", "the config must be a mapping", 1),
    ],
)
def test_invalid_configs_name_the_key_and_line(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    _write(tmp_path, "frameworks/bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_framework("frameworks/bad.yaml", base_dir=tmp_path)
    rendered = str(caught.value)
    assert message in rendered
    assert "\n" not in rendered
    where = "frameworks/bad.yaml" + (f":{line}" if line else "")
    assert caught.value.where == where


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("contents:\n  packages: [a\n", 3),
        ("cmd: a\n  b: c\n", 2),
        ("contents:\n\tpackages: []\n", 2),
        ('cmd: "unterminated\n', 2),
    ],
)
def test_yaml_syntax_errors_carry_the_line(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(ConfigError, match="invalid YAML") as caught:
        parse_config(text.encode(), where="f.yaml")
    assert caught.value.where == f"f.yaml:{line}"


def test_unknown_key_hint_lists_the_known_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(b"entrypoint:\n  cmd: x\n", where="f.yaml")
    assert caught.value.hint is not None
    assert "command" in caught.value.hint
    assert "shell-fragment" in caught.value.hint


def test_yaml_merge_keys_are_expanded() -> None:
    text = b"x-base: &base\n  cmd: a\n"
    with pytest.raises(ConfigError, match="unknown key x-base"):
        parse_config(text, where="f.yaml")
    doc = parse_config(
        b"entrypoint:\n  <<: {command: /bin/sh, type: x}\n  type: y\n", where="f.yaml"
    )
    assert doc["entrypoint"] == {"command": "/bin/sh", "type": "y"}


def test_config_checksum_is_apkos(fixtures: Path, tmp_path: Path) -> None:
    """The fixture's lockfile was written by apko for this very config."""
    _write(tmp_path, "apko.yaml", (fixtures / "apko-cli" / "apko.yaml").read_text())
    framework = load_framework("apko.yaml", base_dir=tmp_path)
    assert framework.checksum == "sha256-eal7+HCFuOLz/8m3vNO5cYyNK0Zw7AphCcsc76TbTXg="


def test_include_merges_like_apko_and_hashes_both_files(tmp_path: Path) -> None:
    base = (
        "contents:\n  keyring: [base.pub]\n  repositories: [https://base]\n"
        "  packages: [base-pkg]\n"
        "entrypoint: {command: /base}\ncmd: base-cmd\nwork-dir: /base\n"
        "environment: {A: base, B: base}\narchs: [aarch64]\n"
        "accounts: {run-as: base, users: [{username: b, uid: 1}]}\nvolumes: [/b]\n"
    )
    top = (
        "include: lib/base.yaml\n"
        "contents:\n  repositories: [https://top]\n  packages: [top-pkg]\n"
        "cmd: top-cmd\nenvironment: {B: top}\naccounts: {users: [{username: t, uid: 2}]}\n"
        "volumes: [/t]\n"
    )
    base_path = _write(tmp_path, "lib/base.yaml", base)
    top_path = _write(tmp_path, "top.yaml", top)
    framework = load_framework("top.yaml", base_dir=tmp_path)
    expected = hashlib.sha256(top_path.read_bytes() + base_path.read_bytes()).digest()
    assert framework.checksum == "sha256-" + base64.b64encode(expected).decode()
    assert framework.includes == (tmp_path / "lib/base.yaml",)
    assert framework.contents.packages == ("base-pkg", "top-pkg")
    assert [r.url for r in framework.contents.repositories] == ["https://base", "https://top"]
    assert framework.contents.keyring == ("base.pub",)
    assert framework.archs == ("aarch64",)
    doc = framework.document
    assert doc["cmd"] == "top-cmd"
    assert doc["work-dir"] == "/base"
    assert doc["entrypoint"] == {"command": "/base"}
    assert doc["environment"] == {"A": "base", "B": "top"}
    assert doc["accounts"]["run-as"] == "base"
    assert [u["username"] for u in doc["accounts"]["users"]] == ["b", "t"]
    assert doc["volumes"] == ["/b", "/t"]


def test_include_found_through_include_paths(tmp_path: Path) -> None:
    _write(tmp_path, "testdata/base.yaml", "contents: {packages: [a]}\n")
    _write(tmp_path, "testdata/top.yaml", "include: base.yaml\n")
    framework = load_framework("top.yaml", base_dir=tmp_path, include_paths=["testdata"])
    assert framework.config_name == "top.yaml"
    assert framework.contents.packages == ("a",)


def test_include_errors(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "include: b.yaml\n")
    _write(tmp_path, "b.yaml", "include: a.yaml\n")
    _write(tmp_path, "c.yaml", "include: missing.yaml\n")
    _write(tmp_path, "d.yaml", "include: e.yaml\n")
    _write(tmp_path, "e.yaml", "cmd: [x]\n")
    with pytest.raises(ConfigError, match="include cycle"):
        load_framework("a.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"missing\.yaml not found") as caught:
        load_framework("c.yaml", base_dir=tmp_path)
    assert caught.value.where == "c.yaml"
    with pytest.raises(ConfigError, match="cmd must be a string") as caught:
        load_framework("d.yaml", base_dir=tmp_path)
    assert caught.value.where == "e.yaml:1"


def test_archs_default_to_the_project_archs(tmp_path: Path) -> None:
    _write(tmp_path, "f.yaml", "contents: {packages: [a]}\n")
    framework = load_framework("f.yaml", base_dir=tmp_path, default_archs=("arm64", "amd64"))
    assert framework.archs == ("aarch64", "x86_64")


def test_missing_config_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_framework("nope.yaml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://packages.wolfi.dev/os", Repository(url="https://packages.wolfi.dev/os")),
        ("https://packages.wolfi.dev/os/", Repository(url="https://packages.wolfi.dev/os")),
        ("@local ./packages", Repository(url="./packages", tag="local")),
        ("@local   /abs/packages/", Repository(url="/abs/packages", tag="local")),
    ],
)
def test_repository_lines(text: str, expected: Repository) -> None:
    assert parse_repository(text, where="f") == expected
    assert str(expected).endswith(expected.url)


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("https://packages.wolfi.dev/os/wolfi-signing.rsa.pub", "wolfi-signing.rsa.pub"),
        ("./testdata/melange.rsa.pub", "melange.rsa.pub"),
        ("keys/buildkit.rsa.pub", "buildkit.rsa.pub"),
    ],
)
def test_key_names_are_file_names(entry: str, name: str) -> None:
    assert key_name(entry) == name


def test_merge_keeps_target_entrypoint_when_set() -> None:
    merged = merge_configs(
        {"entrypoint": {"command": "/inc"}, "paths": [{"path": "/i"}]},
        {"entrypoint": {"command": "/top"}, "paths": [{"path": "/t"}]},
    )
    assert merged["entrypoint"] == {"command": "/top"}
    assert merged["paths"] == [{"path": "/i"}, {"path": "/t"}]
