"""Packing a folder: same inputs give the same bytes, the result verifies and unpacks back."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from buildkit import __version__
from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.apk.package import extract_package, pack_package, read_layout, verify_package
from buildkit.apk.pkginfo import PkgInfo
from buildkit.apk.spdx import package_sbom
from buildkit.cli import main
from buildkit.errors import ApkFormatError, UnsafePathError

EPOCH = 1700000000
INFO = PkgInfo(
    name="hello",
    version="1.0.0-r0",
    arch="x86_64",
    description="say hello",
    license="MIT",
    depends=("so:libc.so.6", "busybox>=1.36"),
    provides=("cmd:hello=1.0.0-r0",),
)

# (path, kind, mode, content or link target); created in this order, packed in sorted order.
TREE: list[tuple[str, str, int, str]] = [
    ("usr", "dir", 0o755, ""),
    ("usr/bin", "dir", 0o755, ""),
    ("usr/bin/hello", "file", 0o755, "#!/bin/sh\necho hello\n"),
    ("usr/bin/hi", "link", 0o777, "hello"),
    ("usr/lib", "dir", 0o755, ""),
    ("usr/lib/libhello.so.1", "file", 0o644, "\x7fELF not really"),
    ("usr/lib/libhello.so", "link", 0o777, "libhello.so.1"),
    ("etc", "dir", 0o755, ""),
    ("etc/hello.conf", "file", 0o600, "greeting = hi\n"),
    ("etc/empty.d", "dir", 0o700, ""),
    ("etc/ro", "dir", 0o555, ""),
    ("var/run", "link", 0o777, "/run"),
    ("var", "dir", 0o755, ""),
    ("usr/bin/suid", "file", 0o4755, "setuid"),
    ("usr/share-doc", "file", 0o644, "a sibling that sorts between usr and usr/..."),
]


def _make_tree(root: Path, entries: list[tuple[str, str, int, str]]) -> Path:
    root.mkdir()
    for name, kind, _mode, value in entries:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_text(value)
        else:
            path.symlink_to(value)
    # Modes last, so that a read-only folder can still be filled.
    for name, kind, mode, _value in sorted(entries, reverse=True):
        if kind != "link":
            (root / name).chmod(mode)
    return root


def _snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below ``root``: kind, permission bits, content or link target."""
    found: dict[str, tuple[str, int, str]] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder, name)
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode), "")
            else:
                found[rel] = ("file", stat.S_IMODE(info.st_mode), path.read_text())
    return found


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningKey, Path]:
    private, public = generate_keypair(tmp_path_factory.mktemp("keys") / "test.rsa", bits=2048)
    return SigningKey.load(private), public


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return _make_tree(tmp_path / "tree", TREE)


def test_packing_twice_gives_the_same_bytes(tree: Path, key_pair: tuple[SigningKey, Path]) -> None:
    key, _public = key_pair
    first = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH)
    second = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH)
    assert first == second


def test_creation_order_and_file_times_do_not_matter(
    tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, _public = key_pair
    forward = _make_tree(tmp_path / "forward", TREE)
    backward = _make_tree(tmp_path / "backward", sorted(TREE, key=lambda entry: -len(entry[0])))
    os.utime(backward / "etc/hello.conf", (1, 1))
    assert pack_package(forward, INFO, key=key, source_date_epoch=EPOCH) == pack_package(
        backward, INFO, key=key, source_date_epoch=EPOCH
    )


def test_source_date_epoch_changes_the_bytes(tree: Path, key_pair: tuple[SigningKey, Path]) -> None:
    key, _public = key_pair
    assert pack_package(tree, INFO, key=key, source_date_epoch=EPOCH) != pack_package(
        tree, INFO, key=key, source_date_epoch=EPOCH + 1
    )


def test_pack_verify_extract_round_trip(
    tree: Path, tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, public = key_pair
    apk = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH, sbom=False)
    layout = verify_package(apk, where="hello.apk", keyring=Keyring.from_files([public]))
    assert (layout.signer, layout.signature_algorithm) == ("test.rsa.pub", "sha256")
    extract_package(apk, tmp_path / "out", where="hello.apk")
    assert _snapshot(tmp_path / "out") == _snapshot(tree)
    assert (tmp_path / "out" / "usr/bin/hello").stat().st_mtime == EPOCH


def test_pkginfo_is_completed_from_the_tree(tree: Path, key_pair: tuple[SigningKey, Path]) -> None:
    key, _public = key_pair
    apk = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH, sbom=False)
    layout = read_layout(apk, where="hello.apk")
    file_bytes = sum(len(value) for _n, kind, _m, value in TREE if kind == "file")
    assert layout.pkginfo == dataclasses.replace(
        INFO,
        size=file_bytes,
        origin="hello",
        builddate=EPOCH,
        datahash=hashlib.sha256(apk[layout.data.start :]).hexdigest(),
    )


def test_layout_follows_melange(tree: Path, key_pair: tuple[SigningKey, Path]) -> None:
    """Signature and control are one-entry tar fragments; the data tar is PAX, root-owned."""
    key, _public = key_pair
    apk = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH)
    members = tuple(iter_members(apk, where="hello.apk"))
    assert len(members) == 3
    for member in members:
        header = apk[member.start : member.start + 10]
        # deflate, no FNAME/FEXTRA flags, mtime 0, OS unknown (as Go's gzip writer)
        assert header == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    signature, control, data = (parse_tar(m.data, where="t") for m in members)
    assert [e.name for e in signature] == [".SIGN.RSA256.test.rsa.pub"]
    assert [e.name for e in control] == [".PKGINFO"]
    for fragment in (members[0].data, members[1].data):
        assert fragment[-512:] != b"\0" * 512  # no end-of-archive blocks
    assert members[2].data.endswith(b"\0" * 1024)
    # Folder names without the trailing slash, as melange writes them: apko's tar index
    # would otherwise file "etc/" under itself instead of under the root.
    assert members[2].data[:100].rstrip(b"\0") == b"etc"
    # The generated SBOM and its new folders sort in among the tree's own entries.
    assert [e.name for e in data] == [
        "etc", "etc/empty.d", "etc/hello.conf", "etc/ro", "usr", "usr/bin", "usr/bin/hello",
        "usr/bin/hi", "usr/bin/suid", "usr/lib", "usr/lib/libhello.so", "usr/lib/libhello.so.1",
        "usr/share-doc", "var", "var/lib", "var/lib/db", "var/lib/db/sbom",
        "var/lib/db/sbom/hello-1.0.0-r0.spdx.json", "var/run",
    ]  # fmt: skip
    for entry in (*signature, *control, *data):
        assert (entry.uid, entry.gid, entry.mtime) == (0, 0, EPOCH)
    for entry in data:
        if entry.type == "0":
            assert entry.pax["APK-TOOLS.checksum.SHA1"] == hashlib.sha1(entry.content).hexdigest()
        elif entry.type == "2":
            target = entry.linkname.encode()
            assert entry.pax["APK-TOOLS.checksum.SHA1"] == hashlib.sha1(target).hexdigest()
        else:
            assert entry.type == "5"
            assert not entry.pax


def test_signature_covers_the_control_member(tree: Path, key_pair: tuple[SigningKey, Path]) -> None:
    key, public = key_pair
    apk = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH)
    members = tuple(iter_members(apk, where="hello.apk"))
    control = members[1].compressed(apk)
    (signature,) = parse_tar(members[0].data, where="t")
    assert signature.content == key.sign(control, "sha256")
    assert read_layout(apk, where="t").identity.startswith("Q1")
    assert Keyring.from_files([public]).pem("test.rsa.pub") == key.public_pem


def test_special_files_cannot_be_packed(tmp_path: Path, key_pair: tuple[SigningKey, Path]) -> None:
    key, _public = key_pair
    root = _make_tree(tmp_path / "tree", [("run", "dir", 0o755, "")])
    os.mkfifo(root / "run" / "pipe")
    with pytest.raises(UnsafePathError, match="cannot pack device, FIFO or socket files"):
        pack_package(root, INFO, key=key, source_date_epoch=EPOCH)


@pytest.mark.parametrize(
    ("change", "epoch", "message"),
    [
        ({"arch": ""}, EPOCH, "needs a name, a version and an arch"),
        ({}, -1, "must not be negative"),
        ({"description": "two\nlines"}, EPOCH, "cannot contain a line break"),
    ],
)
def test_bad_metadata_is_refused(
    tree: Path, key_pair: tuple[SigningKey, Path], change: dict[str, str], epoch: int, message: str
) -> None:
    key, _public = key_pair
    with pytest.raises(ApkFormatError, match=message):
        pack_package(tree, dataclasses.replace(INFO, **change), key=key, source_date_epoch=epoch)


def test_empty_folder_packs_to_a_valid_package(
    tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, public = key_pair
    (tmp_path / "empty").mkdir()
    apk = pack_package(tmp_path / "empty", INFO, key=key, source_date_epoch=0, sbom=False)
    layout = verify_package(apk, where="e.apk", keyring=Keyring.from_files([public]))
    assert (layout.pkginfo.size, layout.pkginfo.builddate) == (0, None)  # melange omits 0
    assert gzip.decompress(apk[layout.data.start :]) == b"\0" * 1024


# --------------------------------------------------------------------------------------------
# The package's own SBOM (what apko needs to list it in an image's SBOM)

SBOM = "var/lib/db/sbom/hello-1.0.0-r0.spdx.json"


def _data_files(apk: bytes) -> dict[str, bytes]:
    data = tuple(iter_members(apk, where="t"))[-1].data
    return {e.name: e.content for e in parse_tar(data, where="t") if e.type == "0"}


def test_a_packed_package_describes_itself_in_spdx(
    tree: Path, tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, public = key_pair
    apk = pack_package(tree, INFO, key=key, source_date_epoch=EPOCH)
    layout = verify_package(apk, where="hello.apk", keyring=Keyring.from_files([public]))
    document = json.loads(_data_files(apk)[SBOM])
    (package,) = document["packages"]
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["documentDescribes"] == [package["SPDXID"]]
    assert document["creationInfo"]["created"] == "2023-11-14T22:13:20Z"  # EPOCH
    assert document["creationInfo"]["creators"] == [f"Tool: buildkit ({__version__})"]
    assert (package["name"], package["versionInfo"]) == ("hello", "1.0.0-r0")
    assert (package["licenseDeclared"], package["description"]) == ("MIT", "say hello")
    assert package["externalRefs"][0]["referenceLocator"] == (
        "pkg:apk/unknown/hello@1.0.0-r0?arch=x86_64"
    )
    assert layout.pkginfo.size == sum(len(v) for v in _data_files(apk).values())
    extract_package(apk, tmp_path / "out", where="hello.apk")
    assert oct((tmp_path / "out" / SBOM).stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "out" / "var/lib/db").stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize(
    ("name", "version", "spdx_id"),
    [
        ("hello", "1.0.0-r0", "SPDXRef-Package-apk-hello-1.0.0-r0"),
        ("libstdc++", "13.2_p1-r3", "SPDXRef-Package-apk-libstdc---13.2-p1-r3"),
    ],
)
def test_spdx_ids_use_only_the_characters_spdx_allows(
    name: str, version: str, spdx_id: str
) -> None:
    info = dataclasses.replace(INFO, name=name, version=version)
    document = json.loads(package_sbom(info, source_date_epoch=0, tool="t"))
    assert document["packages"][0]["SPDXID"] == spdx_id
    assert document["creationInfo"]["created"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "own",
    [SBOM, "var/lib/db/sbom/hello-1.0.0.spdx.json", "var/lib/db/sbom/hello.spdx.json"],
)
def test_a_tree_with_its_own_sbom_keeps_it(
    tmp_path: Path, key_pair: tuple[SigningKey, Path], own: str
) -> None:
    """apko looks at these three paths; a package that has any of them gets no second one."""
    key, _public = key_pair
    root = _make_tree(tmp_path / "tree", [("usr", "dir", 0o755, "")])
    (root / own).parent.mkdir(parents=True)
    (root / own).write_text('{"mine": true}')
    files = _data_files(pack_package(root, INFO, key=key, source_date_epoch=EPOCH))
    assert files == {own: b'{"mine": true}'}


def test_an_sbom_behind_a_symlink_out_of_the_tree_does_not_count(
    tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, _public = key_pair
    outside = tmp_path / "outside"
    (outside / "lib/db/sbom").mkdir(parents=True)
    (outside / "lib/db/sbom/hello.spdx.json").write_text("{}")
    root = _make_tree(tmp_path / "tree", [("var", "link", 0, str(outside))])
    with pytest.raises(ApkFormatError, match="var is not a folder in the tree"):
        pack_package(root, INFO, key=key, source_date_epoch=EPOCH)


def test_an_sbom_cannot_be_added_under_a_symlinked_folder(
    tmp_path: Path, key_pair: tuple[SigningKey, Path]
) -> None:
    key, _public = key_pair
    root = _make_tree(tmp_path / "tree", [("var", "dir", 0o755, ""), ("var/lib", "link", 0, "/x")])
    with pytest.raises(ApkFormatError, match=r"var/lib is not a folder in the tree.*--no-sbom"):
        pack_package(root, INFO, key=key, source_date_epoch=EPOCH)
    assert pack_package(root, INFO, key=key, source_date_epoch=EPOCH, sbom=False)


# --------------------------------------------------------------------------------------------
# `buildkit apk pack`


def _cli_args(tree: Path, key: Path, *extra: str) -> list[str]:
    return [
        "apk", "pack", str(tree), "--name", "hello", "--version", "1.0.0-r0", "--arch", "amd64",
        "--signing-key", str(key), "--depend", "so:libc.so.6", "--provide", "cmd:hello=1.0.0-r0",
        "--description", "say hello", *extra,
    ]  # fmt: skip


@pytest.fixture
def cli_key(tmp_path: Path) -> Path:
    private, _public = generate_keypair(tmp_path / "cli.rsa", bits=1024)
    return private


def test_cli_writes_name_version_apk_reproducibly(
    tree: Path, tmp_path: Path, cli_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    assert main(_cli_args(tree, cli_key, "--output-dir", str(tmp_path / "a"))) == 0
    assert main(_cli_args(tree, cli_key, "--output", str(tmp_path / "b.apk"))) == 0
    written = (tmp_path / "a" / "hello-1.0.0-r0.apk").read_bytes()
    assert written == (tmp_path / "b.apk").read_bytes()
    keyring = Keyring.from_files([cli_key.with_name("cli.rsa.pub")])
    layout = verify_package(written, where="cli", keyring=keyring)
    assert (layout.pkginfo.arch, layout.pkginfo.builddate) == ("x86_64", EPOCH)
    assert layout.pkginfo.depends == ("so:libc.so.6",)


@pytest.mark.parametrize(
    ("extra", "epoch", "message"),
    [
        (("--version", "1.0.0-rX"), "0", "1.0.0-rX"),
        (("--name=-rf",), "0", "invalid package name '-rf'"),
        (("--arch", "sparc"), "0", "unknown architecture 'sparc'"),
        (("--depend", "foo>="), "0", "foo>="),
        ((), "yesterday", "SOURCE_DATE_EPOCH must be whole seconds"),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(
    tree: Path,
    tmp_path: Path,
    cli_key: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    epoch: str,
    message: str,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    args = _cli_args(tree, cli_key, "--output-dir", str(tmp_path / "out"), *extra)
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_no_sbom_leaves_the_sbom_out(tree: Path, tmp_path: Path, cli_key: Path) -> None:
    assert main(_cli_args(tree, cli_key, "--output", str(tmp_path / "a.apk"))) == 0
    assert main(_cli_args(tree, cli_key, "--output", str(tmp_path / "b.apk"), "--no-sbom")) == 0
    assert SBOM in _data_files((tmp_path / "a.apk").read_bytes())
    assert not any("sbom" in name for name in _data_files((tmp_path / "b.apk").read_bytes()))
