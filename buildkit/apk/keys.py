"""RSA keys as apk-tools, apko and melange use them: keyrings, signatures, key pairs.

A key is known by its public key's *file name* (``melange.rsa.pub``): signature entries in
.apk files and indexes are named ``.SIGN.RSA.<file name>`` (PKCS#1 v1.5 over SHA-1) or
``.SIGN.RSA256.<file name>`` (SHA-256), and the verifier looks the key up by that name.
All RSA work is done by ``cryptography``; this module only adds names and error messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from buildkit.errors import KeyError_, SignatureError
from buildkit.fsutil import atomic_write_bytes, read_input

SignatureAlgorithm = Literal["sha1", "sha256"]

KEY_BITS = 4096  # what `melange keygen` and `abuild-keygen` produce
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


def _load_public(pem: bytes, where: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyError_(
            "not a PEM public key", where=where, hint="expected '-----BEGIN PUBLIC KEY-----'"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyError_("not an RSA public key", where=where, hint="apk signatures need RSA keys")
    return key


def _spki_der(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _spki_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Keyring:
    """An immutable set of trusted public keys, keyed by file name (``wolfi-signing.rsa.pub``).

    Keys are parsed when the keyring is built, so a bad key file is reported where it is
    rather than when a signature first needs it.
    """

    __slots__ = ("_keys", "_pems")

    def __init__(self, pems: Mapping[str, bytes], *, where: Mapping[str, str] | None = None):
        places = where or {}
        keys: dict[str, rsa.RSAPublicKey] = {}
        for name, pem in pems.items():
            if not name or "/" in name:
                raise KeyError_(f"invalid key name {name!r}", hint="use the public key file name")
            keys[name] = _load_public(pem, places.get(name, name))
        self._pems: Mapping[str, bytes] = MappingProxyType(dict(pems))
        self._keys: Mapping[str, rsa.RSAPublicKey] = MappingProxyType(keys)

    @classmethod
    def from_pems(cls, pems: Mapping[str, bytes]) -> Keyring:
        return cls(pems)

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> Keyring:
        """Each file is one key, named by its file name; two different keys may not share one."""
        pems: dict[str, bytes] = {}
        places: dict[str, str] = {}
        for raw in paths:
            path = Path(raw)
            try:
                pem = read_input(path, "key")
            except OSError as exc:
                raise KeyError_(
                    f"cannot read public key: {exc.strerror}", where=str(path)
                ) from None
            if path.name in pems and pems[path.name] != pem:
                raise KeyError_(
                    f"two different keys are named {path.name}",
                    where=f"{places[path.name]}, {path}",
                    hint="signatures find keys by file name; rename one",
                )
            pems[path.name] = pem
            places[path.name] = str(path)
        return cls(pems, where=places)

    @classmethod
    def from_dir(cls, path: Path | str) -> Keyring:
        """Every ``*.pub`` file (so also ``*.rsa.pub``) directly in ``path``."""
        folder = Path(path)
        if not folder.is_dir():
            raise KeyError_(
                "keyring folder does not exist", where=str(folder), hint="pass a folder of *.pub"
            )
        return cls.from_files(sorted(folder.glob("*.pub")))

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def pem(self, name: str) -> bytes:
        try:
            return self._pems[name]
        except KeyError:
            raise KeyError_(f"no key named {name} in the keyring") from None

    def public_key(self, name: str) -> rsa.RSAPublicKey | None:
        return self._keys.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self.names())!r})"


def verify_signature(
    keyring: Keyring,
    key_name: str,
    algorithm: SignatureAlgorithm,
    signature: bytes,
    data: bytes | memoryview,
    *,
    where: str,
) -> None:
    """Check an RSA PKCS#1 v1.5 signature over ``data``; raise SignatureError if it fails."""
    key = keyring.public_key(key_name)
    if key is None:
        known = ", ".join(keyring.names()) or "none"
        raise SignatureError(
            f"signed by unknown key {key_name}",
            where=where,
            hint=f"add {key_name} to the keyring if you trust it; the keyring has: {known}",
        )
    try:
        # Hash with hashlib: it takes any buffer (a memoryview of a large index, no copy).
        digest = hashlib.new(algorithm, data).digest()
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(_HASHES[algorithm]()))
    except InvalidSignature:
        raise SignatureError(
            f"signature check failed: RSA/{algorithm.upper()} signature by {key_name} "
            "does not match the signed bytes",
            where=where,
            hint="the file was altered or corrupted, or the key is not the one that signed it",
        ) from None


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    """An RSA private key; ``key_name`` is the matching public key's file name."""

    key_name: str
    public_pem: bytes
    _private: rsa.RSAPrivateKey = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: Path | str) -> SigningKey:
        """Read a PKCS#1 or PKCS#8 PEM private key (unencrypted, as melange writes it)."""
        path = Path(path)
        try:
            pem = read_input(path, "key")
        except OSError as exc:
            raise KeyError_(
                f"cannot read signing key: {exc.strerror}",
                where=str(path),
                hint="create one with `nox -s keygen`",
            ) from None
        return cls.from_pem(pem, key_name=f"{path.name}.pub", where=str(path))

    @classmethod
    def from_pem(cls, pem: bytes, *, key_name: str, where: str = "signing key") -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise KeyError_("the private key is encrypted", where=where) from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyError_(
                "not a PEM private key",
                where=where,
                hint="expected PKCS#1 ('BEGIN RSA PRIVATE KEY') or PKCS#8 ('BEGIN PRIVATE KEY')",
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyError_("not an RSA private key", where=where)
        return cls(key_name=key_name, public_pem=_spki_pem(key.public_key()), _private=key)

    def sign(self, data: bytes, algorithm: SignatureAlgorithm = "sha256") -> bytes:
        return self._private.sign(data, padding.PKCS1v15(), _HASHES[algorithm]())

    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(_spki_der(self._private.public_key())).hexdigest()


def generate_keypair(private_path: Path, *, bits: int = KEY_BITS) -> tuple[Path, Path]:
    """Write ``NAME.rsa`` (PKCS#1 PEM, mode 0600) and ``NAME.rsa.pub`` (SPKI PEM).

    This is the pair `melange keygen` writes. Existing files are never replaced: a lost
    private key cannot be recovered, and a replaced one silently invalidates signatures.
    """
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise KeyError_(
                "key file already exists; refusing to overwrite it",
                where=str(path),
                hint="choose another name or remove the old key pair yourself",
            )
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    # Private first: a public key without its private half would look usable but is not.
    atomic_write_bytes(private_path, private_pem, mode=0o600)
    atomic_write_bytes(public_path, _spki_pem(key.public_key()), mode=0o644)
    return private_path, public_path


def fingerprint(public_pem: bytes, *, where: str = "public key") -> str:
    """``sha256:<hex>`` of the DER SubjectPublicKeyInfo: stable across PEM formatting."""
    return "sha256:" + hashlib.sha256(_spki_der(_load_public(public_pem, where))).hexdigest()


def check_key_pair(private_path: Path, public_path: Path) -> SigningKey:
    """Load the private key after checking that ``public_path`` holds its public half:
    packages and indexes signed by a mismatched pair fail verification everywhere."""
    key = SigningKey.load(private_path)
    try:
        pem = public_path.read_bytes()
    except OSError as exc:
        raise KeyError_(
            f"cannot read public key: {exc.strerror}",
            where=str(public_path),
            hint="create the key pair with `buildkit keygen`",
        ) from None
    if fingerprint(pem, where=str(public_path)) != key.fingerprint():
        raise KeyError_(
            f"the private key does not match the public key {public_path}",
            where=str(private_path),
            hint="what it signs would fail verification; restore the matching pair, or move "
            "both away and create a new pair with `nox -s keygen` (then lock again)",
        )
    return key
