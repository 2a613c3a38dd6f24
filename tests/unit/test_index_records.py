"""buildkit.apk.index_records: records, read by the compiled parser and the Python one."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildkit.apk.index import (
    IndexRecord,
    parse_index,
    parse_records,
    render_record,
    write_index,
)
from buildkit.apk.index_records import _byte_chunks, _text_pieces
from buildkit.apk.keys import Keyring, SigningKey
from buildkit.errors import ApkFormatError
from tests.helpers.apk_indexes import (
    ALPINE,
    RECORD,
    load_fixture_index,
    pieces_of,
)

pytestmark = pytest.mark.usefixtures("record_parser")  # each test with each record parser


@pytest.fixture(scope="session")
def alpine_records() -> tuple[IndexRecord, ...]:
    return load_fixture_index(ALPINE, allow_untrusted=True).records


# --------------------------------------------------------------------------------------------
# Records


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{RECORD}broken\n",
            "x:APKINDEX:7: line 'broken' is not 'X:value' (one letter, a colon, the value) "
            "(records are blank-line separated lines such as 'P:busybox')",
        ),
        (f"{RECORD}\n{RECORD}Pfoo:bar\n", "x:APKINDEX:14: line 'Pfoo:bar' is not 'X:value'"),
        (f"{RECORD}\n{RECORD}:x\n", "x:APKINDEX:14: line ':x' is not 'X:value'"),
        (f"{RECORD}\n{RECORD} :x\n", "x:APKINDEX:14: line ' :x' is not 'X:value'"),
        (
            RECORD.replace("S:10", "S:big"),
            "x:APKINDEX:5: S: (size) must be a whole number, not 'big'",
        ),
        (
            RECORD.replace("I:20", "I:-1"),
            "x:APKINDEX:6: I: (installed size) must be a whole number, not '-1'",
        ),
        (f"{RECORD}t:\n", "x:APKINDEX:7: t: (build time) must be a whole number, not ''"),
        (
            f"{RECORD}k:high\n",
            "x:APKINDEX:7: k: (provider priority) must be a whole number, not 'high'",
        ),
        (f"{RECORD}P:bar\n", "x:APKINDEX:7: field P: appears twice in one record"),
        (f"{RECORD}i:a\np:b\ni:c\n", "x:APKINDEX:9: field i: appears twice in one record"),
        (f"{RECORD}i:\np:b\ni:c\n", "x:APKINDEX:9: field i: appears twice in one record"),
        (
            RECORD.replace("P:foo\n", ""),
            "x:APKINDEX:1: record has no P: (package name) line (every record needs C:, P: and V:)",
        ),
        (f"{RECORD}\n\nT:orphan\n", "x:APKINDEX:9: record has no C: (checksum) line"),
        (RECORD.replace("V:1.0-r0", "V:"), "x:APKINDEX:1: record has no V: (version) line"),
    ],
)
def test_malformed_records_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ApkFormatError) as caught:
        parse_records(text, where="x")
    assert str(caught.value).startswith(message)


def test_every_field_is_read_in_any_order_with_unknown_keys_kept() -> None:
    lines = [
        "C:Q1abc=",
        "P:foo",
        "V:1.2-r3",
        "A:aarch64",
        "S:100",
        "I:200",
        "T:a: b",
        "U:https://x",
        "L:MIT",
        "o:foo-src",
        "m:Me <me@x>",
        "t:1700000000",
        "c:deadbeef",
        "k:10",
        "D:so:libc.so.6 !bar cmd:sh>=1",
        "p:so:libfoo.so.1=1 cmd:foo=1.2-r3",
        "i:docs foo",
        "r:old-foo",
        "Z:zed",
        "q:1",
    ]
    expected = IndexRecord(
        checksum="Q1abc=", name="foo", version="1.2-r3", arch="aarch64", size=100,
        installed_size=200, description="a: b", url="https://x", license="MIT",
        origin="foo-src", maintainer="Me <me@x>", build_time=1_700_000_000, commit="deadbeef",
        provider_priority=10, depends=("so:libc.so.6", "!bar", "cmd:sh>=1"),
        provides=("so:libfoo.so.1=1", "cmd:foo=1.2-r3"), install_if=("docs", "foo"),
        replaces=("old-foo",), extra=(("Z", "zed"), ("q", "1")),
    )  # fmt: skip
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    for order in (lines, shuffled, lines[::-1]):
        extra = tuple((line[0], line[2:]) for line in order if line[0] in "Zq")  # file order
        want = dataclasses.replace(expected, extra=extra)
        assert parse_records("\n".join(order) + "\n\n", where="x") == (want,)


@pytest.mark.parametrize(
    "text",
    [
        RECORD,  # no blank line at the end
        RECORD.rstrip("\n"),  # no newline at all
        f"\n\n{RECORD}\n\n\n",  # extra blank lines
        RECORD + "\n",
    ],
)
def test_blank_lines_at_the_edges_do_not_matter(text: str) -> None:
    (record,) = parse_records(text, where="x")
    assert (record.name, record.size, record.installed_size) == ("foo", 10, 20)


def test_absent_sizes_are_zero_and_absent_optional_numbers_none() -> None:
    (record,) = parse_records("C:Q1x=\nP:foo\nV:1\n\n", where="x")
    assert (record.arch, record.size, record.installed_size) == ("", 0, 0)
    assert (record.build_time, record.provider_priority) == (None, None)
    assert parse_records("", where="x") == ()


def test_both_field_orders_real_writers_use_give_the_same_records(
    alpine_records: tuple[IndexRecord, ...],
) -> None:
    # apk-tools writes "k D p i", melange/apko write "D i p k".
    apk_tools = "".join(map(render_record, alpine_records))
    records = []
    for block in apk_tools.split("\n\n")[:-1]:
        lines = block.split("\n")
        head = [line for line in lines if line[0] not in "kDpi"]
        tail = [line for letter in "Dipk" for line in lines if line[0] == letter]
        records.append("\n".join(head + tail) + "\n\n")
    go_apk = "".join(records)
    assert go_apk != apk_tools
    assert parse_records(go_apk, where="x") == parse_records(apk_tools, where="x") == alpine_records


def test_numbers_with_leading_zeros_are_read_as_numbers() -> None:
    text = "C:Q1x=\nP:foo\nV:1\nS:007\nI:0\nt:0010\nk:01\n\n" + RECORD
    first, second = parse_records(text, where="x")
    assert (first.size, first.installed_size, first.build_time, first.provider_priority) == (
        7,
        0,
        10,
        1,
    )
    assert (second.size, second.build_time, second.provider_priority) == (10, None, None)


def test_records_longer_than_a_parsing_chunk_load_whole(signing_key: SigningKey) -> None:
    (small,) = parse_records(RECORD, where="x")
    big = dataclasses.replace(small, name="big", description="long " * 400_000)  # 2 MB
    records = (small, big, small, big, small)
    text = "".join(map(render_record, records))
    assert parse_records(text, where="x") == records
    keyring = Keyring.from_pems({signing_key.key_name: signing_key.public_pem})
    data = write_index(records, description="", key=signing_key)
    assert parse_index(data, where="x", keyring=keyring).records == records


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["C:x\n", "P:y z\n", "\n", "é\n", "\n\n"]), max_size=40), st.data())
def test_text_is_cut_into_chunks_only_after_blank_lines(
    lines: list[str], data: st.DataObject
) -> None:
    text = "".join(lines)
    raw = text.encode()
    sizes = data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=5))
    chunks = [c.decode() for c in _byte_chunks(pieces_of(raw, sizes))]
    assert "".join(chunks) == text
    assert all(chunk.endswith("\n\n") for chunk in chunks[:-1])
    small = list(_text_pieces(text, chunk=data.draw(st.integers(1, 9))))
    assert "".join(small) == text
    assert all(chunk.endswith("\n\n") for chunk in small[:-1])


def test_parsed_records_are_frozen_dataclasses() -> None:
    (record,) = parse_records(RECORD, where="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "bar"  # type: ignore[misc]
    assert type(record) is IndexRecord
    assert pickle.loads(pickle.dumps(record)) == copy.deepcopy(record) == record
    assert record == IndexRecord(
        checksum="Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=", name="foo", version="1.0-r0", arch="x86_64",
        size=10, installed_size=20,
    )  # fmt: skip
    assert hash(record) == hash(dataclasses.replace(record))
