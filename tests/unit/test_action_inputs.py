"""Action inputs as records (buildkit.actions.inputs): the canonical key document is the one
buildkit always keyed by. The keys below were computed by the code before the inputs became
records (dicts built in buildkit.actions.plan): the demo's frameworks and packages and the
upstream fixtures must keep them, or every cached build would be rebuilt. A changed config file
changes its key on purpose: then recompute the row with the old code, never the new."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.actions.inputs import NEWEST_PACKAGE, ImageInputs, PackageInputs
from buildkit.actions.plan import plan_image, plan_package
from buildkit.errors import StoreError
from buildkit.fields import Fields
from buildkit.framework import load_framework
from buildkit.lockfile import read_lockfile
from buildkit.melange import parse_package_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "apko-cli"
APKO = "127.0.0.1:5000/buildkit-tools/apko@sha256:" + "a" * 64
MELANGE = "127.0.0.1:5000/buildkit-tools/melange@sha256:" + "b" * 64
SIGNING = "sha256:" + "c" * 64
SOURCE_TREE = "sha256:" + "d" * 64  # a fixed tree digest: file modes differ between checkouts
LOCAL_DEPS = {"hello-buildkit": "Q1abc=", "a": "Q1def="}
FIELDS = Fields(where="dist/x.json", error=StoreError, mapping_word="an object")


def _image(config: str, arch: str, epoch: int | None) -> ImageInputs:
    base = FIXTURES if config == "apko.yaml" else ROOT
    framework = load_framework(config, base_dir=base)
    lock = read_lockfile(FIXTURES / "apko.lock.json")
    action = plan_image(
        framework,
        lock,
        arch,
        lockfile=Path("x.lock.json"),
        apko_image=APKO,
        tag="localhost/buildkit/x:latest",
        source_date_epoch=epoch,
        signing_key=SIGNING,
    )
    return action.inputs


def _package(config: str, arch: str) -> PackageInputs:
    path = ROOT / config
    parsed = parse_package_config(path.read_bytes(), path=path)
    action = plan_package(
        parsed,
        config_bytes=path.read_bytes(),
        source_tree=SOURCE_TREE if (path.parent / parsed.name).is_dir() else None,
        arch=arch,
        melange_image=MELANGE,
        source_date_epoch=315532800,
        signing_key="none",
        local_deps=LOCAL_DEPS if parsed.name.startswith("p") else {},
    )
    return action.inputs


IMAGES = pytest.mark.parametrize(
    ("config", "arch", "epoch", "key"),
    [
        (
            "apko.yaml",
            "aarch64",
            1700000000,
            "db3c31a9b007f9d1511ccfb103cda39359ed3805b5eb7ef24808e207cf0a9196",
        ),
        (
            "apko.yaml",
            "aarch64",
            None,
            "d48861b12f55f3fde0f186e3d7c64750b3bcea476fd0eb2c883fb41d913992e6",
        ),
        (
            "apko.yaml",
            "x86_64",
            1700000000,
            "c16249134207bbbfd4d6fc02f7b6df09249ef9a0a5d25dcedd7be53502ef752e",
        ),
        (
            "apko.yaml",
            "x86_64",
            None,
            "c88a3a6bf324d1356b30dab408baa045724c47865502cc1f146a0aa02715e42c",
        ),
        (
            "frameworks/aspnet-8.yaml",
            "aarch64",
            1700000000,
            "d68070bcde591db2ee546438e3b8f5dfdbb9c54ee335dd7be1b6bda233037d0e",
        ),
        (
            "frameworks/aspnet-8.yaml",
            "aarch64",
            None,
            "6191d80dde10a586318b50db4b6a9df27d6bc0fa42d9f3680fa63319112ec093",
        ),
        (
            "frameworks/aspnet-8.yaml",
            "x86_64",
            1700000000,
            "5924bfda17ac46da897f63b1246ee299d9fd2f45e454cb3f980c7f9687d15e79",
        ),
        (
            "frameworks/aspnet-8.yaml",
            "x86_64",
            None,
            "b10c6bd88b626f795d44224c56a713a8eacb1040fd67594f45516e5bed8855dc",
        ),
        (
            "frameworks/demo.yaml",
            "aarch64",
            1700000000,
            "6a46ab5a1e5942d0f8326d1fff7c1756b100920ecfc25f9a2834925268f7f3fe",
        ),
        (
            "frameworks/demo.yaml",
            "aarch64",
            None,
            "43c6ad376009c622308d7fa1935ccc6ffe5c78f381da97238892576206c5d65d",
        ),
        (
            "frameworks/demo.yaml",
            "x86_64",
            1700000000,
            "2f0f3aa47b55f3d45787be9a467a61a92ddba580af1fdae68cf40fd3af8ec97c",
        ),
        (
            "frameworks/demo.yaml",
            "x86_64",
            None,
            "d31cdbb42b7c6a75911aa5932c7d2538788d9bd2a286539c642f1f50fa17de79",
        ),
        (
            "frameworks/java17.yaml",
            "aarch64",
            1700000000,
            "e20a2b217ceffa2c76b54b11115acd753fd21f47d0447584594bc66435d5c66d",
        ),
        (
            "frameworks/java17.yaml",
            "aarch64",
            None,
            "62ad61c10456a11b1fcabe9e3ce27d328a7fcefd603b85086964856e0d85ce92",
        ),
        (
            "frameworks/java17.yaml",
            "x86_64",
            1700000000,
            "01de1371279a4ebd696a0a6f848653b76b5acd8b7735627a33c569f4c41bd043",
        ),
        (
            "frameworks/java17.yaml",
            "x86_64",
            None,
            "2dfaa74c2ae1665ed1620ec006073d23a27440566de05bcf1c9cc4cea0d13170",
        ),
        (
            "frameworks/password-generator.yaml",
            "aarch64",
            1700000000,
            "7fd23aa19464c44854a4436d4ff6aeb5d9bd4ad20e34c64ce8db174b0aba4322",
        ),
        (
            "frameworks/password-generator.yaml",
            "aarch64",
            None,
            "9d4c973d547ec25090f53fa0045b694f02fdbde17df9dc70f4adf02d1eea4bb6",
        ),
        (
            "frameworks/password-generator.yaml",
            "x86_64",
            1700000000,
            "a417aec51f1b82f18c3276ee76b15a3943768325bc45434cf5a1c83000366d2d",
        ),
        (
            "frameworks/password-generator.yaml",
            "x86_64",
            None,
            "05d6b678979ff6c05f5f0104b358dc4d9ab23f97dece590d88c8ed4da5528aaf",
        ),
        (
            "frameworks/python3-11.yaml",
            "aarch64",
            1700000000,
            "861af4e01df511f477f515eb0de754ce4f00fc23d425757dc613d8c8b218b7b3",
        ),
        (
            "frameworks/python3-11.yaml",
            "aarch64",
            None,
            "05012f923fdf5800f2ee547a027bb61afaa8679b55185989d3e39eb15ec88a69",
        ),
        (
            "frameworks/python3-11.yaml",
            "x86_64",
            1700000000,
            "351f9cb8030e19b7d2a1fab7c814d051253b74fe897361936506a28833e304c9",
        ),
        (
            "frameworks/python3-11.yaml",
            "x86_64",
            None,
            "31ffeb9f91549b6f4ff5318441894d592521acfdad5db5d7c2ae72c2ce4baf11",
        ),
    ],
)
PACKAGES = pytest.mark.parametrize(
    ("config", "arch", "key"),
    [
        (
            "packages/dotnet-aspnet-8.yaml",
            "aarch64",
            "b3756efc21d6a72cb0846025006c95494e181a77fb40f0370fdb04cc500dc088",
        ),
        (
            "packages/dotnet-aspnet-8.yaml",
            "x86_64",
            "2ce7cf039c2934414a108cee06a2e31480d2a31ab174354e690290bae2011410",
        ),
        (
            "packages/hello-buildkit.yaml",
            "aarch64",
            "e850544af60e473085e098fd44558eb9cc4a8e7bf56bc9eba672b3b465437874",
        ),
        (
            "packages/hello-buildkit.yaml",
            "x86_64",
            "8e667b7612719263091bab83095e50a35197e1a4c0c742188fe789ba0b7df2bd",
        ),
        (
            "packages/password-generator.yaml",
            "aarch64",
            "4cdac357cc018231208456e39dd2502915dd93c130f035f919610451bc6e6e10",
        ),
        (
            "packages/password-generator.yaml",
            "x86_64",
            "a13ad1d0884128f8b9bcebe93025c874fd4fdf427337ac65470deee94f9d4af2",
        ),
        (
            "tests/fixtures/apko-cli/custom-ca-certs-1.melange.yaml",
            "aarch64",
            "82aa374ef2e6e844ee279f31af314939677e967754ea9d9ae23464ab2d242c32",
        ),
        (
            "tests/fixtures/apko-cli/custom-ca-certs-1.melange.yaml",
            "x86_64",
            "d2124de92c1d8553439e79ebab862952d322ad6e021b143b1e84dd7a92e97cd2",
        ),
        (
            "tests/fixtures/apko-cli/custom-ca-certs-2.melange.yaml",
            "aarch64",
            "5aa1332c65a3859af6ae35ba39cd44a2457506678e674c729cc25b85cb064ede",
        ),
        (
            "tests/fixtures/apko-cli/custom-ca-certs-2.melange.yaml",
            "x86_64",
            "d995a7f77ec9cb0c96e9404d2df55762f15ebbe8af73bc9d7777030993981c20",
        ),
        (
            "tests/fixtures/apko-cli/pretend-baselayout.melange.yaml",
            "aarch64",
            "94d1ce667eb712a37fe9cde02f427098b10e208caabebf5f0e2475f500174445",
        ),
        (
            "tests/fixtures/apko-cli/pretend-baselayout.melange.yaml",
            "x86_64",
            "b7d13b1bb362b8fd02a845c07941ca12ffc988395dcf82f44f9c1287aae1857d",
        ),
        (
            "tests/fixtures/apko-cli/replayout.melange.yaml",
            "aarch64",
            "6eebe6a6892661d61935ec4f6115a4cea882b50fe9529859f3a35524f86600d5",
        ),
        (
            "tests/fixtures/apko-cli/replayout.melange.yaml",
            "x86_64",
            "58cc88c651cab99f8e94bf7dc488697810c2f73e67e41dff7c2206febe868926",
        ),
    ],
)


@IMAGES
def test_image_action_keys_of_the_demo_and_fixtures_are_unchanged(
    config: str, arch: str, epoch: int | None, key: str
) -> None:
    assert _image(config, arch, epoch).key == key


@PACKAGES
def test_package_action_keys_of_the_demo_and_fixtures_are_unchanged(
    config: str, arch: str, key: str
) -> None:
    assert _package(config, arch).key == key


@IMAGES
def test_image_inputs_read_back_from_a_record_are_equal(
    config: str, arch: str, epoch: int | None, key: str
) -> None:
    inputs = _image(config, arch, epoch)
    assert ImageInputs.from_dict(inputs.to_dict(), FIELDS) == inputs


@PACKAGES
def test_package_inputs_read_back_from_a_record_are_equal(config: str, arch: str, key: str) -> None:
    inputs = _package(config, arch)
    assert PackageInputs.from_dict(inputs.to_dict(), FIELDS) == inputs


def test_an_unconfigured_source_date_epoch_is_keyed_as_the_newest_locked_package() -> None:
    assert _image("frameworks/demo.yaml", "x86_64", None).to_dict()["source_date_epoch"] == (
        NEWEST_PACKAGE
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": "x"}, "config must be an object"),
        ({"lock": 1}, "lock must be a non-empty string"),
        ({"recipe": "1"}, "recipe must be an integer"),
        ({"source_date_epoch": "now"}, "source_date_epoch must be an integer"),
    ],
)
def test_a_malformed_image_input_is_named_by_its_field(
    change: dict[str, object], message: str
) -> None:
    document = {**_image("frameworks/demo.yaml", "x86_64", None).to_dict(), **change}
    with pytest.raises(StoreError) as info:
        ImageInputs.from_dict(document, FIELDS.at("inputs"))
    assert info.value.message == f"inputs.{message}"
    assert info.value.where == "dist/x.json"
