"""crane and cosign command lines (pure): mounts, flags per signing mode, secrets by name only."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildkit.toolchain import parse_image_ref, run_argv
from buildkit.toolchain.supply import (
    Signer,
    cosign_attest_spec,
    cosign_keygen_spec,
    cosign_public_key_spec,
    cosign_sign_spec,
    cosign_verify_spec,
    crane_push_spec,
    crane_tag_spec,
)

COSIGN = parse_image_ref(f"127.0.0.1:5000/tools/cosign@sha256:{'a' * 64}", False)
CRANE = parse_image_ref(f"127.0.0.1:5000/tools/crane@sha256:{'b' * 64}", False)
PROJECT = Path("/p")
REF = f"127.0.0.1:5000/buildkit/demo@sha256:{'d' * 64}"
KEY = Signer(mode="key", key=PROJECT / "keys" / "cosign.key")
KEYLESS = Signer(mode="keyless", identity="^https://github.com/o/r/", issuer="https://issuer")
CONFIG = Path("/home/u/.docker")


def _tail(argv: list[str], image: str) -> list[str]:
    return argv[argv.index(image) + 1 :]


@pytest.mark.parametrize(
    ("signer", "insecure", "expected"),
    [
        (KEY, True, ["sign", "--key", "/keys/cosign.key", "--use-signing-config=false",
                     "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry",
                     "--yes", REF]),
        (KEYLESS, False, ["sign", "--yes", REF]),
    ],
)  # fmt: skip
def test_sign_flags_per_mode(signer: Signer, insecure: bool, expected: list[str]) -> None:
    spec = cosign_sign_spec(
        COSIGN, signer=signer, reference=REF, insecure=insecure, project=PROJECT,
        docker_config=CONFIG,
    )  # fmt: skip
    argv = run_argv("docker", spec)
    assert _tail(argv, COSIGN.run_ref) == expected
    assert argv[argv.index("--network") + 1] == "host"
    assert f"{CONFIG}:/docker-config:ro" in argv
    assert "DOCKER_CONFIG=/docker-config" in argv
    if signer.mode == "key":
        assert f"{PROJECT}/keys/cosign.key:/keys/cosign.key:ro" in argv
        assert argv[argv.index("COSIGN_PASSWORD") - 1] == "-e"  # by name, never its value
    else:
        assert "SIGSTORE_ID_TOKEN" in argv
        assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in argv


def test_attest_mounts_the_predicate_read_only() -> None:
    spec = cosign_attest_spec(
        COSIGN, signer=KEY, reference=REF, predicate=Path("/p/dist/sha256/abc"),
        predicate_type="spdxjson", insecure=False, project=PROJECT, docker_config=None,
    )  # fmt: skip
    argv = run_argv("docker", spec)
    assert "/p/dist/sha256/abc:/predicate.json:ro" in argv
    tail = _tail(argv, COSIGN.run_ref)
    assert tail[tail.index("--type") + 1] == "spdxjson"
    assert tail[tail.index("--predicate") + 1] == "/predicate.json"
    assert not any(a.startswith("DOCKER_CONFIG") for a in argv)


@pytest.mark.parametrize(
    ("signer", "kind", "expected"),
    [
        (KEY, None, ["verify", "--key", "/keys/cosign.pub", "--insecure-ignore-tlog=true", REF]),
        (KEY, "slsaprovenance1", ["verify-attestation", "--type", "slsaprovenance1", "--key",
                                  "/keys/cosign.pub", "--insecure-ignore-tlog=true", REF]),
        (KEYLESS, None, ["verify", "--certificate-identity-regexp", "^https://github.com/o/r/",
                         "--certificate-oidc-issuer", "https://issuer", REF]),
    ],
)  # fmt: skip
def test_verify_uses_the_public_key_or_the_identity(
    signer: Signer, kind: str | None, expected: list[str]
) -> None:
    spec = cosign_verify_spec(
        COSIGN, signer=signer, reference=REF, insecure=False, project=PROJECT,
        docker_config=None, predicate_type=kind,
    )  # fmt: skip
    argv = run_argv("docker", spec)
    assert _tail(argv, COSIGN.run_ref) == expected
    assert "COSIGN_PASSWORD" not in argv
    assert not any("cosign.key" in a for a in argv)  # verify never sees the private key


def test_crane_push_and_tag() -> None:
    push = run_argv("docker", crane_push_spec(
        CRANE, layout=Path("/p/dist/tmp/x/layout"), reference=REF, insecure=True,
        project=PROJECT, docker_config=None,
    ))  # fmt: skip
    assert _tail(push, CRANE.run_ref) == ["push", "--insecure", "/layout", REF]
    assert "/p/dist/tmp/x/layout:/layout:ro" in push
    tag = run_argv("docker", crane_tag_spec(
        CRANE, reference=REF, tag="1.0", insecure=False, project=PROJECT, docker_config=None
    ))  # fmt: skip
    assert _tail(tag, CRANE.run_ref) == ["tag", REF, "1.0"]


def test_keygen_writes_into_the_keys_folder_only() -> None:
    argv = run_argv("docker", cosign_keygen_spec(COSIGN, key=Path("/p/keys/cosign.key"),
                                                 project=PROJECT))  # fmt: skip
    assert _tail(argv, COSIGN.run_ref) == [
        "generate-key-pair", "--output-key-prefix", "/keys/cosign"
    ]  # fmt: skip
    assert "/p/keys:/keys" in argv
    assert "/p:/work:ro" in argv
    assert argv[argv.index("--network") + 1] == "none"


def test_the_key_check_reads_the_private_key_offline_with_the_password_by_name() -> None:
    argv = run_argv("docker", cosign_public_key_spec(COSIGN, signer=KEY, project=PROJECT))
    assert _tail(argv, COSIGN.run_ref) == ["public-key", "--key", "/keys/cosign.key"]
    assert "/p/keys/cosign.key:/keys/cosign.key:ro" in argv
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("-e") + 1] == "COSIGN_PASSWORD"
