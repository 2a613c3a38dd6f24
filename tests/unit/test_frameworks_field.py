"""The real-world frameworks (Java 17, Python 3.11, ASP.NET Core 8, the password generator).

They need Wolfi, Alpine and Microsoft downloads, so they cannot be locked or built on this
project's offline machines; these tests hold them to apko's config rules (buildkit.framework,
unknown keys are errors) and to what an image for the field needs: a non-root user by number,
the distribution's signing keys, and local packages that this project actually builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildkit.apk.atom import parse_atom
from buildkit.framework import Framework, key_name, load_framework
from buildkit.melange import PackageConfig, load_package_configs, providers
from buildkit.project.config import load_project

ROOT = Path(__file__).resolve().parents[2]
WOLFI = "https://packages.wolfi.dev/os"
ALPINE = "https://dl-cdn.alpinelinux.org/alpine/v3.22/main"
# The keys each distribution signs its indexes with (a key is found by its file name).
DISTRIBUTION_KEYS = {
    WOLFI: {"wolfi-signing.rsa.pub"},
    ALPINE: {
        "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub",  # x86_64
        "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub",  # aarch64
    },
}
PROJECT_KEY = "./keys/buildkit.rsa.pub"
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, kw_only=True)
class Expected:
    distribution: str
    entrypoint: str
    work_dir: str
    run_as: str
    environment: dict[str, str]
    packages: frozenset[str]  # names that must be requested
    local: tuple[str, ...] = ()  # packages taken from '@local ./packages'
    stop_signal: str = ""


FIELD = {
    "java17": Expected(
        distribution=WOLFI,
        entrypoint="/usr/bin/java",
        work_dir="/app",
        run_as="65532",
        environment={
            "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk",
            "LANG": "C.UTF-8",
            "PATH": STANDARD_PATH,
        },
        packages=frozenset({"openjdk-17-jre", "openjdk-17-default-jvm", "ca-certificates-bundle"}),
    ),
    "python3-11": Expected(
        distribution=WOLFI,
        entrypoint="/usr/bin/python3.11",
        work_dir="/app",
        run_as="65532",
        environment={"LANG": "C.UTF-8", "PATH": STANDARD_PATH},
        packages=frozenset({"python-3.11", "ca-certificates-bundle"}),
    ),
    "aspnet-8": Expected(
        distribution=ALPINE,
        entrypoint="/usr/share/dotnet/dotnet",
        work_dir="/app",
        run_as="1000",
        environment={
            "DOTNET_ROOT": "/usr/share/dotnet",
            "DOTNET_RUNNING_IN_CONTAINER": "true",
            "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "true",
            "ASPNETCORE_HTTP_PORTS": "8080",
        },
        packages=frozenset({"alpine-baselayout-data"}),
        local=("dotnet-aspnet-8",),
        stop_signal="SIGTERM",
    ),
    "password-generator": Expected(
        distribution=WOLFI,
        entrypoint="/usr/share/webapps/app/bin/password-generator",
        work_dir="/usr/share/webapps/app",
        run_as="65532",
        environment={"PORT": "8080"},
        packages=frozenset({"ca-certificates-bundle"}),
        local=("password-generator",),
        stop_signal="SIGTERM",
    ),
}
NAMES = sorted(FIELD)


def load(name: str) -> Framework:
    return load_framework(f"frameworks/{name}.yaml", base_dir=ROOT)


@pytest.fixture(scope="module")
def local_configs() -> dict[str, PackageConfig]:
    return providers(load_package_configs(ROOT / "packages"))


@pytest.mark.parametrize("name", NAMES)
def test_loads_under_apkos_rules_for_both_archs(name: str) -> None:
    framework = load(name)
    assert framework.name == name
    assert framework.archs == ("x86_64", "aarch64")
    assert framework.checksum.startswith("sha256-")


@pytest.mark.parametrize("name", NAMES)
def test_entrypoint_work_dir_stop_signal_and_environment(name: str) -> None:
    expected, document = FIELD[name], load(name).document
    assert document["entrypoint"] == {"command": expected.entrypoint}
    assert document["work-dir"] == expected.work_dir
    assert document.get("stop-signal", "") == expected.stop_signal
    assert expected.environment.items() <= document["environment"].items()


@pytest.mark.parametrize("name", NAMES)
def test_runs_as_a_declared_non_root_user_by_number(name: str) -> None:
    accounts = load(name).document["accounts"]
    run_as = accounts["run-as"]
    assert run_as == FIELD[name].run_as
    assert run_as.isdigit()
    assert int(run_as) != 0
    (user,) = [u for u in accounts["users"] if u["uid"] == int(run_as)]
    assert any(g["gid"] == user["gid"] for g in accounts["groups"])


@pytest.mark.parametrize("name", NAMES)
def test_work_dir_created_for_the_user_when_the_image_makes_it(name: str) -> None:
    document = load(name).document
    uid = int(document["accounts"]["run-as"])
    made = [p for p in document.get("paths", []) if p["path"] == document["work-dir"]]
    for path in made:
        assert (path["type"], path["uid"], path["permissions"]) == ("directory", uid, 0o755)
    # Otherwise a package owns it (the password generator's virtualenv).
    assert made or FIELD[name].local


@pytest.mark.parametrize("name", NAMES)
def test_trusts_exactly_its_distributions_keys(name: str) -> None:
    framework = load(name)
    remote = [r.url for r in framework.contents.repositories if r.is_remote]
    assert remote == [FIELD[name].distribution]
    remote_keys = {key_name(k) for k in framework.contents.keyring if k.startswith("https://")}
    assert remote_keys == DISTRIBUTION_KEYS[FIELD[name].distribution]
    assert all(k.startswith("https://") or k == PROJECT_KEY for k in framework.contents.keyring)


@pytest.mark.parametrize("name", NAMES)
def test_requests_valid_atoms_and_the_runtime_packages(name: str) -> None:
    atoms = [parse_atom(text) for text in load(name).contents.packages]
    plain = {a.name for a in atoms if a.tag is None}
    assert FIELD[name].packages <= plain
    assert tuple(a.name for a in atoms if a.tag == "local") == FIELD[name].local
    assert all(a.tag in (None, "local") for a in atoms)


@pytest.mark.parametrize("name", [n for n in NAMES if FIELD[n].local])
def test_local_packages_are_built_here_for_every_arch_from_the_same_distribution(
    name: str, local_configs: dict[str, PackageConfig]
) -> None:
    framework = load(name)
    assert "@local ./packages" in {str(r) for r in framework.contents.repositories}
    assert PROJECT_KEY in framework.contents.keyring  # the local index is signed with it
    for package in FIELD[name].local:
        config = local_configs[package]
        assert all(config.builds_for(arch) for arch in framework.archs)
        # Built against the distribution the image runs (musl binaries need Alpine's libc).
        assert config.repositories == (FIELD[name].distribution,)
        assert {key_name(k) for k in config.keyring} == DISTRIBUTION_KEYS[FIELD[name].distribution]


def test_the_default_build_set_stays_buildable_offline() -> None:
    """buildkit.toml's [project].frameworks is what a plain `nox -s build` covers; the field
    frameworks are named explicitly (CI does), because they need the internet."""
    project = load_project(ROOT, env={})
    assert project.frameworks, "an empty list would mean every framework"
    assert not set(project.frameworks) & set(FIELD)


def test_the_password_generators_own_unit_tests_pass() -> None:
    app = ROOT / "apps" / "password-generator"
    result = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests"],
        cwd=app,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # leave the source tree as it is
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK" in result.stderr
