"""The upstream APK indexes in tests/fixtures with their keys, and small tar/gzip builders."""

from __future__ import annotations

import io
import itertools
import tarfile

from buildkit.apk.index import ApkIndex, parse_index
from buildkit.apk.keys import Keyring
from tests.helpers.paths import FIXTURES

ALPINE = "alpine-3.17-main-aarch64/APKINDEX.tar.gz"
ALPINE_KEY = "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"
MULTI_KEYS = tuple(
    f"chainguard-{h}.rsa.pub"
    for h in (
        "0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0",
        "60912bbc46bfc8ed6bda0b50db3a8a5f3c4344d6bc8549ec9b84d96140b475d1",
        "61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3",
    )
)


# index, keyring folder, signers, record count
SIGNED = [
    ("apko-cli/packages/x86_64/APKINDEX.tar.gz", "apko-cli/packages", ("melange.rsa.pub",), 4),
    ("apko-cli/packages/aarch64/APKINDEX.tar.gz", "apko-cli/packages", ("melange.rsa.pub",), 4),
    *(
        (
            f"apko-cli/private_packages/packages/{arch}/APKINDEX.tar.gz",
            "apko-cli/private_packages",
            ("private_pkg_key.rsa.pub",),
            2,
        )
        for arch in ("x86_64", "aarch64")
    ),
    ("apk-signing/rsa256/APKINDEX.tar.gz", "apk-signing/rsa256", ("test-rsa256.rsa.pub",), 1),
    (
        "apk-signing/multi-signature/APKINDEX.tar.gz",
        "apk-signing/multi-signature/keys",
        MULTI_KEYS,
        16,
    ),
    ("wolfi/x86_64/APKINDEX.tar.gz", "wolfi", ("wolfi-signing.rsa.pub",), 47),
]
RECORD = "C:Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=\nP:foo\nV:1.0-r0\nA:x86_64\nS:10\nI:20\n"


def fixture_keyring(folder: str) -> Keyring:
    return Keyring.from_dir(FIXTURES / folder)


def load_fixture_index(relative: str, keys: str | None = None, **options: bool) -> ApkIndex:
    keyring = fixture_keyring(keys) if keys else None
    data = (FIXTURES / relative).read_bytes()
    return parse_index(data, where=relative, keyring=keyring, **options)


def tar_bytes(*infos: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, content in infos:
            archive.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return buffer.getvalue()


def tar_info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **attrs: object
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def pieces_of(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    pieces: list[bytes] = []
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(data):
            return pieces
        pieces.append(data[start : start + size])
        start += size
    raise AssertionError  # unreachable: cycle() never ends
