"""crane (registry client) and cosign (signatures, attestations): jobs in, container specs out.

Pure, like ``tools``: each job names host paths; the spec mounts exactly those, read-only, at
fixed container paths, and runs on the host network (the registry is on loopback). Credentials
are the user's ``docker login`` ones: the docker config folder is mounted read-only and
``DOCKER_CONFIG`` points at it (both tools use go-containerregistry's keychain, which also does
the registry's token exchange). The cosign key password and keyless CI tokens reach the container
by name only (``-e NAME``), never as a value on a command line.

Offline key mode (``keys/cosign.key``): no transparency log and no signing config, so nothing
leaves the machine; verification then uses ``--insecure-ignore-tlog``. Keyless mode (CI) uses
cosign's defaults: Fulcio, Rekor and the ambient OIDC token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from buildkit.imageref import ImageRef
from buildkit.toolchain.spec import ContainerSpec, Mount

LAYOUT = "/layout"
DOCKER_CONFIG = "/docker-config"
KEYS = "/keys"
PREDICATE = "/predicate.json"
PASSWORD_ENV = "COSIGN_PASSWORD"  # noqa: S105 - the variable's name, not a password
# What keyless signing in GitHub Actions (or with an explicit token) needs from the environment.
KEYLESS_ENV = (
    "SIGSTORE_ID_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
SBOM_TYPE = "spdxjson"
PROVENANCE_TYPE = "slsaprovenance1"


@dataclass(frozen=True, kw_only=True)
class Signer:
    """How cosign signs and verifies: a key pair (offline) or keyless (OIDC identity)."""

    mode: str  # "key" or "keyless"
    key: Path | None = None  # the private key (key mode); the public key is beside it
    identity: str = ""  # keyless verify: regexp for the certificate identity
    issuer: str = ""  # keyless verify: the OIDC issuer

    @property
    def public_key(self) -> Path | None:
        return self.key.with_suffix(".pub") if self.key else None


def _spec(
    image: ImageRef,
    args: list[str],
    *,
    project: Path,
    mounts: tuple[Mount, ...] = (),
    docker_config: Path | None = None,
    inherit_env: tuple[str, ...] = (),
) -> ContainerSpec:
    env: Mapping[str, str] = {}
    if docker_config is not None:
        mounts = (*mounts, (docker_config, DOCKER_CONFIG, True))
        env = {"DOCKER_CONFIG": DOCKER_CONFIG}
    return ContainerSpec(
        image=image,
        args=tuple(args),
        workdir_mount=project,
        workdir_read_only=True,
        env=env,
        network="host",
        extra_mounts=mounts,
        inherit_env=inherit_env,
    )


def _insecure(insecure: bool) -> list[str]:
    return ["--insecure"] if insecure else []


# --- crane --------------------------------------------------------------------------------------


def crane_push_spec(
    image: ImageRef,
    *,
    layout: Path,
    reference: str,
    insecure: bool,
    project: Path,
    docker_config: Path | None,
) -> ContainerSpec:
    """Push an OCI layout's one image unchanged (manifest bytes, config, layers) to
    ``reference``; blobs the registry has are skipped (HEAD first). Prints ``ref@digest``."""
    return _spec(
        image,
        ["push", *_insecure(insecure), LAYOUT, reference],
        project=project,
        mounts=((layout, LAYOUT, True),),
        docker_config=docker_config,
    )


def crane_tag_spec(
    image: ImageRef,
    *,
    reference: str,
    tag: str,
    insecure: bool,
    project: Path,
    docker_config: Path | None,
) -> ContainerSpec:
    """Give the manifest at ``reference`` (by digest) one more tag, bytes unchanged."""
    return _spec(
        image,
        ["tag", *_insecure(insecure), reference, tag],
        project=project,
        docker_config=docker_config,
    )


def crane_digest_spec(
    image: ImageRef, *, reference: str, insecure: bool, project: Path, docker_config: Path | None
) -> ContainerSpec:
    return _spec(
        image,
        ["digest", *_insecure(insecure), reference],
        project=project,
        docker_config=docker_config,
    )


# --- cosign -------------------------------------------------------------------------------------


def _registry_flags(insecure: bool) -> list[str]:
    return ["--allow-insecure-registry", "--allow-http-registry"] if insecure else []


def _key_mounts(signer: Signer, *, private: bool) -> tuple[tuple[Mount, ...], list[str]]:
    path = signer.key if private else signer.public_key
    if signer.mode != "key" or path is None:
        return (), []
    target = f"{KEYS}/{path.name}"
    return ((path, target, True),), ["--key", target]


def _sign_flags(signer: Signer) -> list[str]:
    # Key mode is offline: no signing config (it names public services), no tlog upload.
    return ["--use-signing-config=false", "--tlog-upload=false"] if signer.mode == "key" else []


def _sign_env(signer: Signer) -> tuple[str, ...]:
    return (PASSWORD_ENV,) if signer.mode == "key" else KEYLESS_ENV


def cosign_sign_spec(
    image: ImageRef,
    *,
    signer: Signer,
    reference: str,
    insecure: bool,
    project: Path,
    docker_config: Path | None,
) -> ContainerSpec:
    """Sign ``reference`` (REPO@DIGEST); the signature goes next to it in the registry."""
    mounts, key = _key_mounts(signer, private=True)
    return _spec(
        image,
        ["sign", *key, *_sign_flags(signer), *_registry_flags(insecure), "--yes", reference],
        project=project,
        mounts=mounts,
        docker_config=docker_config,
        inherit_env=_sign_env(signer),
    )


def cosign_attest_spec(
    image: ImageRef,
    *,
    signer: Signer,
    reference: str,
    predicate: Path,
    predicate_type: str,
    insecure: bool,
    project: Path,
    docker_config: Path | None,
) -> ContainerSpec:
    """Attach ``predicate`` (an SPDX document, a SLSA provenance predicate) as a signed
    in-toto attestation of ``reference``."""
    mounts, key = _key_mounts(signer, private=True)
    args = [
        "attest",
        *key,
        *_sign_flags(signer),
        *_registry_flags(insecure),
        "--type",
        predicate_type,
        "--predicate",
        PREDICATE,
        "--yes",
        reference,
    ]
    return _spec(
        image,
        args,
        project=project,
        mounts=(*mounts, (predicate, PREDICATE, True)),
        docker_config=docker_config,
        inherit_env=_sign_env(signer),
    )


def _verify_flags(signer: Signer) -> list[str]:
    if signer.mode == "key":
        return ["--insecure-ignore-tlog=true"]
    return [
        "--certificate-identity-regexp",
        signer.identity or ".*",
        "--certificate-oidc-issuer",
        signer.issuer,
    ]


def cosign_verify_spec(
    image: ImageRef,
    *,
    signer: Signer,
    reference: str,
    insecure: bool,
    project: Path,
    docker_config: Path | None,
    predicate_type: str | None = None,
) -> ContainerSpec:
    """``cosign verify`` (no ``predicate_type``) or ``cosign verify-attestation --type T``."""
    mounts, key = _key_mounts(signer, private=False)
    command = (
        ["verify"] if predicate_type is None else ["verify-attestation", "--type", predicate_type]
    )
    return _spec(
        image,
        [*command, *key, *_verify_flags(signer), *_registry_flags(insecure), reference],
        project=project,
        mounts=mounts,
        docker_config=docker_config,
    )


def cosign_public_key_spec(image: ImageRef, *, signer: Signer, project: Path) -> ContainerSpec:
    """``cosign public-key --key K``: the public half of the private key, which only a
    COSIGN_PASSWORD that opens the key gives. No network: checked before anything is pushed."""
    mounts, key = _key_mounts(signer, private=True)
    return ContainerSpec(
        image=image,
        args=("public-key", *key),
        workdir_mount=project,
        workdir_read_only=True,
        extra_mounts=mounts,
        inherit_env=(PASSWORD_ENV,),
    )


def cosign_keygen_spec(image: ImageRef, *, key: Path, project: Path) -> ContainerSpec:
    """``cosign generate-key-pair`` into ``key``'s folder (NAME.key, NAME.pub); the password
    comes from COSIGN_PASSWORD."""
    return ContainerSpec(
        image=image,
        args=("generate-key-pair", "--output-key-prefix", f"{KEYS}/{key.stem}"),
        workdir_mount=project,
        workdir_read_only=True,
        extra_mounts=((key.parent, KEYS, False),),
        inherit_env=(PASSWORD_ENV,),
    )
