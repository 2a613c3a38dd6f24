"""buildkit.apk.index on real upstream files: verification, refusals, records loaded, writing."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json
import shutil
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk.gzmembers import (
    iter_members,
    parse_tar,
)
from buildkit.apk.index import (
    ApkIndex,
    IndexRecord,
    parse_index,
    parse_records,
    record_from_package,
    render_record,
    write_index,
)
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.errors import ApkFormatError, SignatureError
from tests.helpers.apk_indexes import (
    ALPINE,
    ALPINE_KEY,
    MULTI_KEYS,
    RECORD,
    SIGNED,
    fixture_keyring,
    load_fixture_index,
    tar_bytes,
    tar_info,
)
from tests.helpers.paths import FIXTURES

pytestmark = pytest.mark.usefixtures("record_parser")  # each test with each record parser


@pytest.fixture(scope="session")
def alpine_records() -> tuple[IndexRecord, ...]:
    return load_fixture_index(ALPINE, allow_untrusted=True).records


# --------------------------------------------------------------------------------------------
# Real indexes


@pytest.mark.parametrize(("index", "keys", "signers", "count"), SIGNED)
def test_real_indexes_verify_and_parse(
    index: str, keys: str, signers: tuple[str, ...], count: int
) -> None:
    parsed = load_fixture_index(index, keys)
    assert parsed.signers == signers
    assert len(parsed.records) == count
    for record in parsed.records:
        assert record.checksum.startswith("Q1")
        assert record.name
        assert record.version
        assert record.arch
        assert record.filename == f"{record.name}-{record.version}.apk"


def test_alpine_index_parses_unverified_at_full_scale(
    alpine_records: tuple[IndexRecord, ...],
) -> None:
    parsed = load_fixture_index(ALPINE, allow_untrusted=True)
    assert parsed.signers == ()
    assert parsed.description == "v3.17.3-216-g54a39ace82a"
    assert len(alpine_records) == 5004
    assert {r.arch for r in alpine_records} == {"aarch64"}
    nasm_doc = next(r for r in alpine_records if r.name == "nasm-doc")
    assert nasm_doc.install_if == ("docs", "nasm=2.15.05-r1")
    assert sum(1 for r in alpine_records if r.provider_priority is not None) > 0


def test_alpine_index_is_refused_without_its_key() -> None:
    with pytest.raises(SignatureError) as caught:
        load_fixture_index(ALPINE, "wolfi")
    assert str(caught.value) == (
        f"{ALPINE}: signature check failed: signed only by keys not in the keyring "
        f"({ALPINE_KEY}) (add the signer's public key if you trust it; the keyring has: "
        "wolfi-signing.rsa.pub)"
    )


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_private_packages_match_apkindex_json_field_by_field(arch: str) -> None:
    folder = f"apko-cli/private_packages/packages/{arch}"
    records = load_fixture_index(f"{folder}/APKINDEX.tar.gz", "apko-cli/private_packages").records
    expected = json.loads((FIXTURES / folder / "APKINDEX.json").read_text())["Packages"]
    assert len(records) == len(expected)
    for record, package in zip(records, expected, strict=True):
        assert record.name == package["Name"]
        assert record.version == package["Version"]
        assert record.arch == package["Arch"]
        assert record.description == package["Description"]
        assert record.license == package["License"]
        assert record.origin == package["Origin"]
        assert record.maintainer == package["Maintainer"]
        assert record.url == package["URL"]
        assert record.checksum == "Q1" + package["Checksum"]
        assert record.depends == tuple(package["Dependencies"] or ())
        assert record.provides == tuple(package["Provides"] or ())
        assert record.install_if == tuple(package["InstallIf"] or ())
        assert record.replaces == tuple(package["Replaces"] or ())
        assert record.size == package["Size"]
        assert record.installed_size == package["InstalledSize"]
        assert (record.provider_priority or 0) == package["ProviderPriority"]
        assert record.build_time == package["BuildDate"]
        assert record.commit == package["RepoCommit"]
        # DataHash is not an index field (the JSON comes from apko's package model).


@pytest.mark.parametrize(
    "folder",
    [
        "apko-cli/packages/x86_64",
        "apko-cli/packages/aarch64",
        "apko-cli/private_packages/packages/x86_64",
        "apk-signing/rsa256",
    ],
)
def test_record_from_package_reproduces_the_real_index(folder: str) -> None:
    index = parse_index(
        (FIXTURES / folder / "APKINDEX.tar.gz").read_bytes(),
        where=folder,
        keyring=None,
        allow_untrusted=True,
    )
    for listed in index.records:
        path = FIXTURES / folder / listed.filename
        built = record_from_package(path.read_bytes(), where=str(path))
        # melange writes t:0 for a package without a builddate (buildkit leaves t: out) and
        # never writes r: (apk-tools ignores r: in an index; buildkit keeps .PKGINFO's).
        if built.build_time is None:
            built = dataclasses.replace(built, build_time=listed.build_time)
        assert dataclasses.replace(built, replaces=()) == listed


# --------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize(("index", "keys", "signers", "count"), SIGNED)
def test_one_flipped_byte_in_the_signed_part_is_refused(
    tmp_path: Path, where: str, index: str, keys: str, signers: tuple[str, ...], count: int
) -> None:
    copy = tmp_path / "APKINDEX.tar.gz"
    shutil.copyfile(FIXTURES / index, copy)
    data = bytearray(copy.read_bytes())
    start = tuple(iter_members(bytes(data), where="x"))[-1].start
    position = {"first": start, "middle": (start + len(data)) // 2, "last": len(data) - 1}[where]
    data[position] ^= 0x01
    copy.write_bytes(data)
    with pytest.raises(SignatureError) as caught:
        parse_index(copy.read_bytes(), where=str(copy), keyring=fixture_keyring(keys))
    assert str(caught.value).startswith(f"{copy}: signature check failed: RSA/")
    assert "does not match the signed bytes" in str(caught.value)


def test_unsigned_index_is_refused_unless_untrusted_is_allowed(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records[:3], description="", key=None)
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    with pytest.raises(SignatureError) as caught:
        parse_index(data, where="idx", keyring=keyring)
    assert str(caught.value) == (
        "idx: signature check failed: the index is not signed "
        "(sign it (buildkit apk index --signing-key) or allow untrusted indexes)"
    )
    parsed = parse_index(data, where="idx", keyring=keyring, allow_untrusted=True)
    assert parsed.records == alpine_records[:3]
    assert parsed.signers == ()


def test_no_keyring_means_no_trusted_signature() -> None:
    with pytest.raises(SignatureError, match="the keyring has: no keyring given"):
        load_fixture_index("wolfi/x86_64/APKINDEX.tar.gz")


def test_allow_untrusted_reads_an_index_signed_by_an_unknown_key() -> None:
    parsed = load_fixture_index(
        "wolfi/x86_64/APKINDEX.tar.gz", "apko-cli/packages", allow_untrusted=True
    )
    assert parsed.signers == ()
    assert len(parsed.records) == 47


def test_multi_signature_index_needs_only_one_known_key() -> None:
    one = Keyring.from_files([FIXTURES / "apk-signing/multi-signature/keys" / MULTI_KEYS[1]])
    data = (FIXTURES / "apk-signing/multi-signature/APKINDEX.tar.gz").read_bytes()
    assert parse_index(data, where="x", keyring=one).signers == (MULTI_KEYS[1],)


def test_a_known_key_whose_signature_does_not_match_is_refused() -> None:
    # The right name, the wrong key: a keyring entry that lies about who signed.
    impostor = Keyring.from_pems(
        {
            MULTI_KEYS[0]: (
                FIXTURES / "apk-signing/multi-signature/keys" / MULTI_KEYS[2]
            ).read_bytes()
        }
    )
    data = (FIXTURES / "apk-signing/multi-signature/APKINDEX.tar.gz").read_bytes()
    with pytest.raises(SignatureError, match="signature check failed: RSA/SHA256 signature by"):
        parse_index(data, where="x", keyring=impostor)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello", "x: not gzip data at byte 0: "),
        (
            gzip.compress(b"", mtime=0) * 2,
            "x: unexpected gzip member at byte 20 after the index",
        ),
        (
            gzip.compress(tar_bytes((tar_info("DESCRIPTION", size=2), b"hi"))),
            "x: the archive has no APKINDEX file",
        ),
        (
            gzip.compress(
                tar_bytes((tar_info("APKINDEX", size=0), b""), (tar_info("junk", size=0), b""))
            ),
            "x: unexpected entry 'junk' in the index archive "
            "(expected only APKINDEX and DESCRIPTION)",
        ),
    ],
)
def test_malformed_archives_are_reported(data: bytes, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert str(caught.value).startswith(message)


_WOLFI_INDEX = FIXTURES / "wolfi/x86_64/APKINDEX.tar.gz"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-10], "x: truncated gzip member starting at byte 646 "),
        (lambda d: d[:300], "x: truncated gzip member 1 starting at byte 0 "),
        (lambda d: d[:5], "x: truncated gzip member 1 starting at byte 0 "),
        (lambda d: b"hello", "x: not a gzip file "),
    ],
    ids=["index cut", "signature cut", "header cut", "not gzip"],
)
@pytest.mark.parametrize("trusted", [True, False], ids=["keyring", "no keyring"])
def test_a_damaged_index_is_reported_as_damaged_not_as_unsigned(
    damage: Callable[[bytes], bytes], message: str, trusted: bool
) -> None:
    data = damage(_WOLFI_INDEX.read_bytes())
    keyring = fixture_keyring("wolfi") if trusted else None
    with pytest.raises(ApkFormatError) as caught:
        parse_index(data, where="x", keyring=keyring)
    assert str(caught.value).startswith(message)


def test_a_truncated_index_read_untrusted_is_reported_as_truncated() -> None:
    data = _WOLFI_INDEX.read_bytes()[:-10]
    with pytest.raises(ApkFormatError, match="x: truncated gzip member starting at byte 646"):
        parse_index(data, where="x", keyring=None, allow_untrusted=True)


def test_a_signature_mismatch_on_an_intact_file_stays_a_signature_error() -> None:
    data = bytearray(_WOLFI_INDEX.read_bytes())
    data[646 + 9] ^= 1  # the index member's gzip OS byte: still valid gzip, but not as signed
    with pytest.raises(SignatureError, match="signature check failed"):
        parse_index(bytes(data), where="x", keyring=fixture_keyring("wolfi"))


def _index_text(data: bytes) -> tuple[str, str]:
    """APKINDEX and DESCRIPTION read the plain way: the last member, whole, through tarfile."""
    entries = parse_tar(tuple(iter_members(data, where="x"))[-1].data, where="x")
    texts = {entry.name: entry.content.decode() for entry in entries}
    return texts["APKINDEX"], texts.get("DESCRIPTION", "")


def test_loaded_records_render_back_to_exactly_the_index_text() -> None:
    # Written by apk-tools in its field order, the order render_record uses.
    data = (FIXTURES / ALPINE).read_bytes()
    index = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert "".join(map(render_record, index.records)) == _index_text(data)[0]


def _index_archive(*entries: tuple[str, bytes], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    return gzip.compress(tar_bytes(*((tar_info(n, size=len(c)), c) for n, c in entries), fmt=fmt))


def _pax_archive(text: bytes) -> bytes:
    return gzip.compress(
        tar_bytes((tar_info("APKINDEX", size=len(text), pax_headers={"c": "x"}), text))
    )


@pytest.mark.parametrize(
    ("build", "description"),
    [
        (lambda text: _index_archive(("APKINDEX", text), ("DESCRIPTION", b"d")), "d"),
        (lambda text: _index_archive(("DESCRIPTION", b"d"), ("APKINDEX", text)), "d"),
        (lambda text: _index_archive(("APKINDEX", text)), ""),
        (lambda text: _index_archive(("APKINDEX", text), fmt=tarfile.GNU_FORMAT), ""),
        (lambda text: _index_archive(("APKINDEX", text.replace(b"\nV:", b"\nZ:z\nV:"))), ""),
        (lambda text: _index_archive(("APKINDEX", text.replace(b"\n\n", b"\n\n\n"))), ""),
        (_pax_archive, ""),  # not the usual tar: read whole
    ],
)
def test_every_archive_layout_loads_the_records_its_text_holds(
    alpine_records: tuple[IndexRecord, ...],
    build: Callable[[bytes], bytes],
    description: str,
) -> None:
    data = build("".join(map(render_record, alpine_records[:300])).encode())
    index = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert index.records == parse_records(_index_text(data)[0], where="x")
    assert [r.checksum for r in index.records] == [r.checksum for r in alpine_records[:300]]
    assert index.description == description


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (
            _index_archive(("APKINDEX", RECORD.encode() + b"\n" + b"\xff" * 3)),
            f"x: APKINDEX is not UTF-8 text (byte {len(RECORD) + 1})",
        ),
        (
            _index_archive(("APKINDEX", RECORD.encode()), ("DESCRIPTION", b"\xff")),
            "x: DESCRIPTION is not UTF-8 text (byte 0)",
        ),
        (
            _index_archive(("APKINDEX", (RECORD * 2).encode())),
            "x:APKINDEX:7: field C: appears twice in one record",
        ),
        (
            _index_archive(("APKINDEX", f"{RECORD}\n{RECORD}broken\n".encode())),
            "x:APKINDEX:14: line 'broken' is not 'X:value'",
        ),
        (
            _index_archive(("APKINDEX", RECORD.encode())) + b"junk",
            "x: garbled data after gzip member 1 at byte ",
        ),
    ],
)
def test_broken_index_content_is_reported_where_it_is(archive: bytes, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_index(archive, where="x", keyring=None, allow_untrusted=True)
    assert str(caught.value).startswith(message)


def test_loading_leaves_the_garbage_collector_as_it_was() -> None:
    before = gc.get_threshold()
    data = (FIXTURES / ALPINE).read_bytes()
    with ThreadPoolExecutor(4) as pool:  # concurrent loads, as lock makes them
        loads = pool.map(
            lambda _: parse_index(data, where="x", keyring=None, allow_untrusted=True), range(8)
        )
        assert {len(index.records) for index in loads} == {5004}
    with pytest.raises(ApkFormatError):
        parse_index(data[:-1], where="x", keyring=None, allow_untrusted=True)
    with pytest.raises(ApkFormatError):
        parse_records(f"{RECORD}broken\n", where="x")
    assert gc.get_threshold() == before


# --------------------------------------------------------------------------------------------
# Writing


def test_write_then_parse_round_trips_a_real_index(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records, description="v1", key=signing_key)
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    parsed = parse_index(data, where="x", keyring=keyring)
    assert parsed == ApkIndex(records=alpine_records, description="v1", signers=("test.rsa.pub",))


def test_written_index_is_deterministic_and_shaped_like_melanges(
    signing_key: SigningKey, alpine_records: tuple[IndexRecord, ...]
) -> None:
    data = write_index(alpine_records[:5], description="d", key=signing_key)
    assert data == write_index(alpine_records[:5], description="d", key=signing_key)
    signature, index = tuple(iter_members(data, where="x"))
    # A tar fragment: one header and the 256-byte signature padded to a block, no end blocks.
    assert len(signature.data) == 1024
    (entry,) = parse_tar(signature.data, where="x")
    assert entry.name == ".SIGN.RSA256.test.rsa.pub"
    entries = parse_tar(index.data, where="x")
    assert [(e.name, e.mtime, e.uid, e.gid, e.mode) for e in entries] == [
        ("APKINDEX", 0, 0, 0, 0o644),
        ("DESCRIPTION", 0, 0, 0, 0o644),
    ]
    assert entries[1].content == b"d"
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime 0


def test_records_that_cannot_be_written_are_refused() -> None:
    (record,) = parse_records(RECORD, where="x")
    with pytest.raises(
        ApkFormatError, match=r"index field T: of foo-1\.0-r0\.apk has a line break"
    ):
        write_index([dataclasses.replace(record, description="a\nb")], description="", key=None)
    with pytest.raises(ApkFormatError, match="invalid extra index key 'PP'"):
        render_record(dataclasses.replace(record, extra=(("PP", "x"),)))


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=20,
)
_ATOM = st.from_regex(r"[a-z0-9:._+/-]{1,12}(=[0-9.]{1,5})?", fullmatch=True)
_ATOMS = st.lists(_ATOM, max_size=4).map(tuple)
_RECORDS = st.builds(
    IndexRecord,
    checksum=st.from_regex(r"Q1[A-Za-z0-9+/]{27}=", fullmatch=True),
    name=st.from_regex(r"[a-z0-9][a-z0-9+._-]{0,15}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}-r[0-9]", fullmatch=True),
    arch=st.sampled_from(["x86_64", "aarch64", ""]),
    size=st.integers(0, 2**40),
    installed_size=st.integers(0, 2**40),
    description=_TEXT.map(str.strip),
    url=_TEXT.map(str.strip),
    license=_TEXT.map(str.strip),
    origin=_TEXT.map(str.strip),
    maintainer=_TEXT.map(str.strip),
    build_time=st.none() | st.integers(0, 2**33),
    commit=st.from_regex(r"[0-9a-f]{0,40}", fullmatch=True),
    provider_priority=st.none() | st.integers(0, 1000),
    depends=_ATOMS,
    provides=_ATOMS,
    install_if=_ATOMS,
    replaces=_ATOMS,
    extra=st.lists(
        st.tuples(st.sampled_from("XYZqfj"), _TEXT.map(str.strip)),
        max_size=2,
        unique_by=lambda kv: kv[0],
    ).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_RECORDS, max_size=6), _TEXT)
def test_any_records_survive_a_write_and_parse(
    records: list[IndexRecord], description: str
) -> None:
    data = write_index(records, description=description, key=None)
    parsed = parse_index(data, where="x", keyring=None, allow_untrusted=True)
    assert parsed.records == tuple(records)
    assert parsed.description == description


def test_signatures_in_several_members_all_count(
    signing_key: SigningKey, tmp_path: Path, alpine_records: tuple[IndexRecord, ...]
) -> None:
    other = SigningKey.load(generate_keypair(tmp_path / "other.rsa", bits=2048)[0])
    signed_a = write_index(alpine_records[:2], description="", key=signing_key)
    signed_b = write_index(alpine_records[:2], description="", key=other)
    sig_a, index_a = tuple(iter_members(signed_a, where="a"))
    _sig_b, index_b = tuple(iter_members(signed_b, where="b"))
    assert index_a.compressed(signed_a) == index_b.compressed(signed_b)  # deterministic
    data = sig_a.compressed(signed_a) + signed_b
    keyring = Keyring.from_pems(
        {signing_key.key_name: signing_key.public_pem, other.key_name: other.public_pem}
    )
    parsed = parse_index(data, where="x", keyring=keyring)
    assert parsed.signers == ("test.rsa.pub", "other.rsa.pub")
    assert parsed.records == alpine_records[:2]
