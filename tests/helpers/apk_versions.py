"""apk versions for tests: real index records, and a hypothesis strategy of valid versions."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from hypothesis import strategies as st

from buildkit.apk.version import SUFFIXES
from tests.helpers.paths import FIXTURES

ALPINE_INDEX = FIXTURES / "alpine-3.17-main-aarch64/APKINDEX.tar.gz"
WOLFI_INDEX = FIXTURES / "wolfi/x86_64/APKINDEX.tar.gz"


def index_records(path: Path) -> list[dict[str, str]]:
    """The records of an APKINDEX.tar.gz, read without the index module.

    The file is gzip members (signature tar fragment, then the index tar); decompressed
    together they read as one tar stream whose APKINDEX member holds ``X:value`` records.
    """
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tar:
        member = tar.extractfile("APKINDEX")
        assert member is not None
        text = member.read().decode()
    return [
        dict(line.split(":", 1) for line in block.splitlines())
        for block in text.split("\n\n")
        if block.strip()
    ]


# Small alphabets so that generated versions often share prefixes and collide.
_NUMBERS = st.sampled_from(
    ["0", "1", "2", "9", "10", "01", "00", "010", "007", "18446744073709551616"]
)
_SUFFIX = st.tuples(
    st.sampled_from([name for name in SUFFIXES if name]),
    st.sampled_from(["", "0", "1", "2", "10", "01"]),
).map(lambda pair: f"_{pair[0]}{pair[1]}")


@st.composite
def versions(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(["0", "1", "2", "10", "01"]))
    text += "".join(f".{n}" for n in draw(st.lists(_NUMBERS, max_size=3)))
    text += draw(st.sampled_from(["", "", "a", "b", "z"]))
    text += "".join(draw(st.lists(_SUFFIX, max_size=2)))
    text += draw(st.sampled_from(["", "", "~0", "~1", "~a", "~ab", "~0a"]))
    text += draw(st.sampled_from(["", "-r0", "-r1", "-r2", "-r10", "-r01"]))
    return text
