"""buildkit.melange: reading package configs and ordering local packages dependencies first."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.errors import ConfigError
from buildkit.melange import (
    PackageConfig,
    atom_name,
    build_order,
    load_package_configs,
    parse_package_config,
)

PROJECT = Path(__file__).resolve().parents[2]


def cfg(name: str, *needs: str, provides: tuple[str, ...] = ()) -> PackageConfig:
    return PackageConfig(
        name=name,
        version="1",
        epoch=0,
        path=Path(f"packages/{name}.yaml"),
        runtime=needs,
        provides=provides,
    )


# --- parsing -------------------------------------------------------------------------------------


def test_reads_the_demo_package_config() -> None:
    path = PROJECT / "packages" / "hello-buildkit.yaml"
    config = parse_package_config(path.read_bytes(), path=path)
    assert (config.name, config.full_version) == ("hello-buildkit", "1.0.0-r0")
    assert config.filename == "hello-buildkit-1.0.0-r0.apk"
    assert config.runtime == ("busybox",)
    assert config.environment == ("buildkit-baselayout", "busybox")
    assert config.repositories == ("http://127.0.0.1:8040/os",)
    assert config.keyring == ("http://127.0.0.1:8040/os/buildkit-bootstrap.rsa.pub",)
    assert config.builds_for("x86_64")
    assert config.builds_for("aarch64")


def test_reads_subpackages_provides_and_target_archs() -> None:
    text = b"""
package:
  name: libfoo
  version: 2.1
  epoch: 3
  target-architecture: [amd64]
  dependencies:
    runtime: [libbar>=1.0, "!conflict", so:libc.so.6]
    provides: [foo-compat=2.1-r3]
environment:
  contents:
    packages: [build-base, libbaz@local]
subpackages:
  - name: libfoo-dev
  - name: libfoo-doc
"""
    config = parse_package_config(text, path=Path("packages/libfoo.yaml"))
    assert config.full_version == "2.1-r3"
    assert config.provides == ("libfoo-dev", "libfoo-doc", "foo-compat")
    assert config.subpackages == ("libfoo-dev", "libfoo-doc")
    assert config.runtime == ("libbar", "conflict", "so:libc.so.6")
    assert config.environment == ("build-base", "libbaz")
    assert config.target_archs == ("x86_64",)
    assert not config.builds_for("aarch64")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"package: [", "invalid YAML"),
        (b"- a list", "must be a mapping"),
        (b"pipeline: []", "package must be a mapping"),
        (b"package: {version: 1}", "package.name must be a non-empty string"),
        (b"package: {name: a}", "package.version must be a non-empty string"),
        (b"package: {name: a, version: 1, epoch: -1}", "epoch must be a non-negative integer"),
        (b"package: {name: a, version: 1, epoch: x}", "epoch must be a non-negative integer"),
        (
            b"package: {name: a, version: 1, dependencies: {runtime: [1]}}",
            "runtime must be a list of strings",
        ),
        (
            b"package: {name: a, version: 1, target-architecture: [sparc]}",
            "unknown architecture",
        ),
        (b"package: {name: a, version: 1}\nsubpackages: {a: 1}", "subpackages must be a list"),
    ],
)
def test_bad_configs_are_one_clear_error(text: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_package_config(text, path=Path("packages/a.yaml"))
    assert str(info.value).startswith("packages/a.yaml")  # with :line for YAML errors
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("atom", "name"),
    [
        ("busybox", "busybox"),
        ("busybox>=1.36", "busybox"),
        ("!busybox-full", "busybox-full"),
        ("hello@local", "hello"),
        ("so:libc.so.6", "so:libc.so.6"),
        ("cmd:sh=1.0-r0", "cmd:sh"),
        ("${{package.name}}-dev", "${{package.name}}-dev"),
    ],
)
def test_atom_name(atom: str, name: str) -> None:
    assert atom_name(atom) == name


def test_two_configs_building_one_package_are_refused(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.yaml").write_text("package: {name: same, version: 1}\n")
    with pytest.raises(ConfigError, match="package same is built by two configs"):
        load_package_configs(tmp_path)


def test_an_empty_folder_has_no_packages(tmp_path: Path) -> None:
    assert load_package_configs(tmp_path) == ()


# --- ordering ----------------------------------------------------------------------------------


def names(configs: tuple[PackageConfig, ...]) -> list[str]:
    return [c.name for c in configs]


@pytest.mark.parametrize(
    ("configs", "expected"),
    [
        ([cfg("app", "lib"), cfg("lib")], ["lib", "app"]),
        ([cfg("c"), cfg("b"), cfg("a")], ["a", "b", "c"]),  # independent: by name
        ([cfg("app", "lib-dev"), cfg("lib", provides=("lib-dev",))], ["lib", "app"]),
        ([cfg("app", "busybox", "glibc")], ["app"]),  # non-local needs are not edges
        ([cfg("a", "a")], ["a"]),  # a package needing itself is no cycle
        (
            [cfg("top", "mid", "base"), cfg("mid", "base"), cfg("base"), cfg("z")],
            ["base", "z", "mid", "top"],
        ),
    ],
)
def test_build_order_puts_dependencies_first(
    configs: list[PackageConfig], expected: list[str]
) -> None:
    assert names(build_order(configs)) == expected


def test_selecting_names_brings_in_their_local_dependencies_only() -> None:
    configs = [cfg("app", "lib"), cfg("lib", "base"), cfg("base"), cfg("other")]
    assert names(build_order(configs, {"app"})) == ["base", "lib", "app"]
    assert names(build_order(configs, {"other"})) == ["other"]


def test_selecting_an_unknown_package_is_refused() -> None:
    with pytest.raises(ConfigError, match="no package config builds 'nope'"):
        build_order([cfg("a")], {"nope"})


def test_a_dependency_cycle_is_named() -> None:
    configs = [cfg("a", "b"), cfg("b", "c"), cfg("c", "a"), cfg("d")]
    with pytest.raises(ConfigError, match=r"cycle: a -> b -> c -> a") as info:
        build_order(configs)
    assert info.value.where == "packages/a.yaml"


@given(
    st.lists(st.lists(st.integers(0, 7), max_size=4), min_size=1, max_size=8).map(
        lambda deps: [
            cfg(f"p{i}", *(f"p{d}" for d in ds if d < i)) for i, ds in enumerate(deps)
        ]  # edges only to lower numbers: always acyclic
    )
)
def test_every_dependency_comes_before_its_dependent(configs: list[PackageConfig]) -> None:
    order = names(build_order(list(reversed(configs))))
    assert sorted(order) == sorted(c.name for c in configs)
    position = {name: n for n, name in enumerate(order)}
    for config in configs:
        for need in config.runtime:
            assert position[need] < position[config.name]
