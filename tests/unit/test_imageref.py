"""buildkit.imageref: image references, the digest-pinning rule, local names."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildkit.errors import ConfigError, ToolchainError
from buildkit.imageref import ImageRef, local_name, parse_image_ref, pinned_digest
from tests.helpers.toolchain import (
    D1,
    D2,
)


@pytest.mark.parametrize(
    ("text", "name", "tag", "digest"),
    [
        (
            f"127.0.0.1:5000/buildkit-tools/apko@{D1}",
            "127.0.0.1:5000/buildkit-tools/apko",
            None,
            D1,
        ),
        (
            f"127.0.0.1:5000/buildkit-tools/apko:v1.2.39@{D1}",
            "127.0.0.1:5000/buildkit-tools/apko",
            "v1.2.39",
            D1,
        ),
        (f"cgr.dev/chainguard/melange@{D2}", "cgr.dev/chainguard/melange", None, D2),
        (f"busybox@{D1}", "busybox", None, D1),
        (f"localhost/x_y/a.b-c:1.0-r2@{D1}", "localhost/x_y/a.b-c", "1.0-r2", D1),
        (f"[::1]:5000/tools/apko@{D1}", "[::1]:5000/tools/apko", None, D1),
    ],
)
def test_pinned_references_parse_into_name_tag_and_digest(
    text: str, name: str, tag: str | None, digest: str
) -> None:
    ref = parse_image_ref(text)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert ref.run_ref == f"{name}@{digest}"  # the engine gets the digest, never the tag
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "bad repository name"),
        ("library/Upper@" + D1, "bad repository name"),
        ("a//b@" + D1, "bad repository name"),
        ("apko:bad tag@" + D1, "bad tag"),
        ("apko@sha256:abc", "bad digest"),
        ("apko@sha256:" + "A" * 64, "bad digest"),
        ("apko@sha512:" + "a" * 128, "only sha256 digests are supported"),
    ],
)
def test_malformed_references_are_config_errors_on_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_image_ref(text, where="buildkit.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "text",
    ["cgr.dev/chainguard/apko", "cgr.dev/chainguard/apko:latest", "127.0.0.1:5000/x/apko:v1"],
)
def test_unpinned_reference_is_refused_with_how_to_pin_it(text: str) -> None:
    with pytest.raises(ToolchainError) as info:
        parse_image_ref(text)
    line = str(info.value)
    assert "not pinned by digest" in line
    assert "@sha256:" in line
    assert "--allow-unpinned" in line
    assert "\n" not in line
    assert info.value.exit_code == 1


def test_unpinned_reference_is_accepted_when_allowed_and_runs_by_tag() -> None:
    ref = parse_image_ref("127.0.0.1:5000/x/apko:v1", allow_unpinned=True)
    assert ref.digest is None
    assert ref.run_ref == "127.0.0.1:5000/x/apko:v1"
    assert parse_image_ref("x/apko", allow_unpinned=True).run_ref == "x/apko:latest"


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000"),
        ("cgr.dev/c/apko", "cgr.dev"),
        ("localhost/a", "localhost"),
        ("library/busybox", None),
        ("busybox", None),
    ],
)
def test_registry_is_the_first_component_only_when_it_looks_like_a_host(
    name: str, registry: str | None
) -> None:
    assert ImageRef(name=name, digest=D1).registry == registry


_component = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)


@given(
    host=st.sampled_from(["", "127.0.0.1:5000/", "cgr.dev/", "localhost/"]),
    parts=st.lists(_component, min_size=1, max_size=3),
    tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    digest=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
)
def test_reference_text_round_trips(
    host: str, parts: list[str], tag: str | None, digest: str
) -> None:
    text = host + "/".join(parts) + (f":{tag}" if tag else "") + f"@sha256:{digest}"
    assert str(parse_image_ref(text)) == text


@pytest.mark.parametrize(
    ("loaded", "name"),
    [
        ("localhost/buildkit/java:1-amd64", "buildkit/java:1-amd64"),
        ("docker.io/buildkit-test/apko-cli:1.0-amd64", "buildkit-test/apko-cli:1.0-amd64"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1"),
    ],
)
def test_local_name_drops_the_registry_engines_add_themselves(loaded: str, name: str) -> None:
    assert local_name(loaded) == name


@pytest.mark.parametrize(
    ("text", "digest"),
    [
        ("127.0.0.1:5000/x/apko@sha256:" + "a" * 64, "sha256:" + "a" * 64),
        ("apko:1.2@sha256:" + "b" * 64, "sha256:" + "b" * 64),
        ("127.0.0.1:5000/x/apko:latest", None),
        ("apko", None),
    ],
)
def test_pinned_digest_is_the_part_after_the_at_sign(text: str, digest: str | None) -> None:
    assert pinned_digest(text) == digest
