"""RSA keys: keyrings by file name, signature checks on real upstream data, key pairs."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.keys import (
    Keyring,
    SignatureAlgorithm,
    SigningKey,
    fingerprint,
    generate_keypair,
    verify_signature,
)
from buildkit.errors import KeyError_, SignatureError
from tests.helpers.paths import FIXTURES

# Real indexes, the folder holding the key(s) that signed them, and the algorithm used.
SIGNED_INDEXES: list[tuple[str, str, SignatureAlgorithm]] = [
    ("apko-cli/packages/x86_64/APKINDEX.tar.gz", "apko-cli/packages", "sha256"),
    ("apko-cli/packages/aarch64/APKINDEX.tar.gz", "apko-cli/packages", "sha256"),
    (
        "apko-cli/private_packages/packages/x86_64/APKINDEX.tar.gz",
        "apko-cli/private_packages",
        "sha1",
    ),
    ("apk-signing/rsa256/APKINDEX.tar.gz", "apk-signing/rsa256", "sha256"),
    ("apk-signing/multi-signature/APKINDEX.tar.gz", "apk-signing/multi-signature/keys", "sha256"),
    ("wolfi/x86_64/APKINDEX.tar.gz", "wolfi", "sha1"),
]


def _signatures(relative: str) -> tuple[list[tuple[str, bytes]], bytes]:
    """(key name, signature) pairs of an index, and the bytes they sign."""
    data = (FIXTURES / relative).read_bytes()
    first, second = tuple(iter_members(data, where=relative))
    pairs = [
        (entry.name.removeprefix(".SIGN.RSA256.").removeprefix(".SIGN.RSA."), entry.content)
        for entry in parse_tar(first.data, where=relative)
    ]
    return pairs, data[second.start :]


@pytest.fixture(scope="session")
def rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small throwaway key pair (2048 bits keeps the suite fast)."""
    folder = tmp_path_factory.mktemp("keys")
    return generate_keypair(folder / "test.rsa", bits=2048)


@pytest.mark.parametrize(("index", "keys", "algorithm"), SIGNED_INDEXES)
def test_real_index_signatures_verify_with_their_keys(
    index: str, keys: str, algorithm: SignatureAlgorithm
) -> None:
    keyring = Keyring.from_dir(FIXTURES / keys)
    pairs, signed = _signatures(index)
    assert pairs
    for name, signature in pairs:
        verify_signature(keyring, name, algorithm, signature, signed, where=index)


@pytest.mark.parametrize(("index", "keys", "algorithm"), SIGNED_INDEXES)
def test_one_flipped_bit_in_the_signed_bytes_fails_the_check(
    index: str, keys: str, algorithm: SignatureAlgorithm
) -> None:
    keyring = Keyring.from_dir(FIXTURES / keys)
    pairs, original = _signatures(index)
    name, signature = pairs[0]
    signed = bytearray(original)
    signed[len(signed) // 2] ^= 1
    with pytest.raises(SignatureError) as caught:
        verify_signature(keyring, name, algorithm, signature, bytes(signed), where="idx")
    assert str(caught.value).startswith(
        f"idx: signature check failed: RSA/{algorithm.upper()} signature by {name} "
        "does not match the signed bytes"
    )


def test_the_wrong_hash_algorithm_fails_the_check() -> None:
    keyring = Keyring.from_dir(FIXTURES / "wolfi")
    [(name, signature)], signed = _signatures("wolfi/x86_64/APKINDEX.tar.gz")
    with pytest.raises(SignatureError, match="signature check failed"):
        verify_signature(keyring, name, "sha256", signature, signed, where="idx")


def test_an_unknown_key_is_named_with_what_the_keyring_has() -> None:
    keyring = Keyring.from_dir(FIXTURES / "apko-cli/packages")
    with pytest.raises(SignatureError) as caught:
        verify_signature(keyring, "other.rsa.pub", "sha256", b"x", b"y", where="idx")
    assert str(caught.value) == (
        "idx: signed by unknown key other.rsa.pub (add other.rsa.pub to the keyring if you "
        "trust it; the keyring has: melange.rsa.pub)"
    )


def test_keyring_from_dir_takes_every_pub_file_by_file_name(tmp_path: Path) -> None:
    pem = (FIXTURES / "wolfi/wolfi-signing.rsa.pub").read_bytes()
    (tmp_path / "a.rsa.pub").write_bytes(pem)
    (tmp_path / "b.pub").write_bytes(pem)
    (tmp_path / "c.rsa").write_bytes(b"not a public key")
    (tmp_path / "README").write_text("ignored")
    keyring = Keyring.from_dir(tmp_path)
    assert keyring.names() == ("a.rsa.pub", "b.pub")
    assert keyring.pem("a.rsa.pub") == pem
    assert "b.pub" in keyring
    assert len(keyring) == 2


def test_keyring_from_pems_and_from_files_agree() -> None:
    path = FIXTURES / "apko-cli/melange.rsa.pub"
    assert Keyring.from_files([path]).names() == ("melange.rsa.pub",)
    assert Keyring.from_pems({"melange.rsa.pub": path.read_bytes()}).pem("melange.rsa.pub") == (
        path.read_bytes()
    )


def test_keyring_refuses_two_different_keys_with_one_name(tmp_path: Path) -> None:
    for folder, source in (
        ("one", "apko-cli/melange.rsa.pub"),
        ("two", "wolfi/wolfi-signing.rsa.pub"),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "melange.rsa.pub").write_bytes((FIXTURES / source).read_bytes())
    with pytest.raises(KeyError_, match=r"two different keys are named melange\.rsa\.pub"):
        Keyring.from_files([tmp_path / "one/melange.rsa.pub", tmp_path / "two/melange.rsa.pub"])


def test_keyring_accepts_the_same_key_twice() -> None:
    same = [FIXTURES / "apko-cli/melange.rsa.pub", FIXTURES / "apko-cli/packages/melange.rsa.pub"]
    assert Keyring.from_files(same).names() == ("melange.rsa.pub",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello", "not a PEM public key"),
        (b"", "not a PEM public key"),
    ],
)
def test_a_bad_key_file_is_reported_where_it_is(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "bad.rsa.pub").write_bytes(content)
    with pytest.raises(KeyError_) as caught:
        Keyring.from_dir(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'bad.rsa.pub'}: {message}")


def test_a_missing_keyring_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="keyring folder does not exist"):
        Keyring.from_dir(tmp_path / "nope")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_sign_then_verify_round_trips(rsa_pair: tuple[Path, Path], algorithm: str) -> None:
    private, public = rsa_pair
    key = SigningKey.load(private)
    assert key.key_name == "test.rsa.pub"
    assert key.public_pem == public.read_bytes()
    alg: SignatureAlgorithm = "sha1" if algorithm == "sha1" else "sha256"
    signature = key.sign(b"payload", alg)
    keyring = Keyring.from_files([public])
    verify_signature(keyring, key.key_name, alg, signature, b"payload", where="x")
    verify_signature(keyring, key.key_name, alg, signature, memoryview(b"payload"), where="x")


def test_signing_key_loads_pkcs8_as_well_as_pkcs1(
    tmp_path: Path, rsa_pair: tuple[Path, Path]
) -> None:
    pkcs1 = SigningKey.load(rsa_pair[0])
    private = serialization.load_pem_private_key(rsa_pair[0].read_bytes(), password=None)
    pkcs8 = tmp_path / "other.rsa"
    pkcs8.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    loaded = SigningKey.load(pkcs8)
    assert b"BEGIN PRIVATE KEY" in pkcs8.read_bytes()
    assert loaded.key_name == "other.rsa.pub"
    assert loaded.public_pem == pkcs1.public_pem
    assert loaded.fingerprint() == pkcs1.fingerprint()


def test_signing_key_repr_shows_no_private_material(rsa_pair: tuple[Path, Path]) -> None:
    text = repr(SigningKey.load(rsa_pair[0]))
    assert "PRIVATE" not in text
    assert "_private" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read signing key: No such file or directory"),
        (b"garbage", "not a PEM private key"),
        ("public", "not a PEM private key"),
        ("encrypted", "the private key is encrypted"),
    ],
)
def test_signing_key_load_errors(
    tmp_path: Path, rsa_pair: tuple[Path, Path], content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "k.rsa"
    if content == "public":
        path.write_bytes(rsa_pair[1].read_bytes())
    elif content == "encrypted":
        key = serialization.load_pem_private_key(rsa_pair[0].read_bytes(), password=None)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(KeyError_) as caught:
        SigningKey.load(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_generate_keypair_writes_what_melange_keygen_writes(tmp_path: Path) -> None:
    private, public = generate_keypair(tmp_path / "melange.rsa")
    assert public == tmp_path / "melange.rsa.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")  # PKCS#1
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")  # SPKI
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096


@pytest.mark.parametrize("existing", ["k.rsa", "k.rsa.pub"])
def test_generate_keypair_never_overwrites(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"precious")
    with pytest.raises(KeyError_) as caught:
        generate_keypair(tmp_path / "k.rsa", bits=2048)
    assert str(caught.value).startswith(
        f"{tmp_path / existing}: key file already exists; refusing to overwrite it"
    )
    assert (tmp_path / existing).read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_fingerprint_is_sha256_of_the_der_public_key() -> None:
    pem = (FIXTURES / "wolfi/wolfi-signing.rsa.pub").read_bytes()
    der = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert fingerprint(pem) == "sha256:" + hashlib.sha256(der).hexdigest()
    # The same key in another PEM layout has the same fingerprint.
    pkcs1 = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    assert fingerprint(pkcs1) == fingerprint(pem)


def test_fingerprint_of_garbage_is_a_key_error() -> None:
    with pytest.raises(KeyError_, match="not a PEM public key"):
        fingerprint(b"nope", where="x.pub")
