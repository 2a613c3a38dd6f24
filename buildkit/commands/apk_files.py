"""`buildkit apk verify | index | show`: check, build and inspect repository files.

A path ending in ``.apk`` is a package; anything else is read as an APKINDEX.tar.gz.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from functools import cmp_to_key
from itertools import groupby
from pathlib import Path
from typing import Any

from buildkit import ui
from buildkit.apk.gzmembers import iter_members, parse_tar
from buildkit.apk.index import (
    ApkIndex,
    IndexRecord,
    parse_index,
    record_from_package,
    render_record,
    write_index,
)
from buildkit.apk.keys import Keyring, SigningKey
from buildkit.apk.package import read_layout, verify_package
from buildkit.apk.version import compare_versions
from buildkit.errors import ApkFormatError, BuildkitError, SignatureError
from buildkit.fsutil import atomic_write_bytes


def register(sub: Any) -> None:
    """Add this module's sub-verbs to the `buildkit apk` group."""
    verify = sub.add_parser(
        "verify",
        help="verify .apk files and APKINDEX.tar.gz signatures",
        description="Verify each file: an .apk (signature, identity, datahash, file checksums) "
        "or an APKINDEX.tar.gz (signature, records). Prints one OK line per file.",
    )
    verify.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _trust_options(verify, exclusive=False)
    verify.set_defaults(func=run_verify)

    index = sub.add_parser(
        "index",
        help="write a signed APKINDEX.tar.gz for a folder of .apk files",
        description="Index every DIR/*.apk (sorted by name, then version) into a signed, "
        "deterministic APKINDEX.tar.gz.",
    )
    index.add_argument("directory", type=Path, metavar="DIR")
    index.add_argument("--signing-key", required=True, type=Path, metavar="KEY")
    index.add_argument("--description", default="", metavar="TEXT")
    index.add_argument("--output", type=Path, metavar="PATH", help="default: DIR/APKINDEX.tar.gz")
    index.set_defaults(func=run_index)

    show = sub.add_parser(
        "show",
        help="print an index's records or a package's .PKGINFO",
        description="Print the records of an APKINDEX.tar.gz or the .PKGINFO of an .apk, "
        "as text or JSON.",
    )
    show.add_argument("path", type=Path, metavar="PATH")
    show.add_argument("--json", action="store_true", help="print JSON")
    _trust_options(show, exclusive=True)
    show.set_defaults(func=run_show)


def _trust_options(parser: argparse.ArgumentParser, *, exclusive: bool) -> None:
    trust: Any = parser.add_mutually_exclusive_group() if exclusive else parser
    trust.add_argument("--keyring", type=Path, metavar="DIR", help="folder of trusted *.pub keys")
    trust.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="accept unsigned files and unknown keys (a signature by a known key must match)",
    )


def _keyring(args: argparse.Namespace) -> Keyring | None:
    if args.keyring is not None:
        return Keyring.from_dir(args.keyring)
    if not args.allow_untrusted:
        raise SignatureError(
            "no keyring given", hint="pass --keyring DIR to verify signatures, or --allow-untrusted"
        )
    return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildkitError(f"cannot read file: {exc.strerror}", where=str(path)) from None


def _is_package(path: Path) -> bool:
    return path.suffix == ".apk"


# --------------------------------------------------------------------------------------------
# verify


def run_verify(args: argparse.Namespace) -> int:

    keyring = _keyring(args)
    for path in args.paths:
        data = _read(path)
        where = str(path)
        if _is_package(path):
            layout = verify_package(
                data, where=where, keyring=keyring, allow_untrusted=args.allow_untrusted
            )
            info = layout.pkginfo
            signer = layout.signer if layout.signer and keyring and layout.signer in keyring else ""
            ui.out.print(
                f"OK {path}: {info.name}-{info.version} ({info.arch}) {layout.identity}, "
                + (f"signed by {signer}" if signer else "signature not checked"),
                markup=False,
            )
        else:
            index = parse_index(
                data, where=where, keyring=keyring, allow_untrusted=args.allow_untrusted
            )
            ui.out.print(f"OK {path}: {_index_summary(index)}", markup=False)
    return 0


def _index_summary(index: ApkIndex) -> str:
    signed = f"signed by {', '.join(index.signers)}" if index.signers else "signature not checked"
    return f"index of {len(index.records)} packages, {signed}"


# --------------------------------------------------------------------------------------------
# index


def run_index(args: argparse.Namespace) -> int:

    folder: Path = args.directory
    if not folder.is_dir():
        raise BuildkitError("not a folder", where=str(folder), hint="pass the folder of .apk files")
    key = SigningKey.load(args.signing_key)
    records = [_record(path) for path in sorted(folder.glob("*.apk"))]
    records = sort_records(records)
    _check_unique(records, folder)
    output: Path = args.output or folder / "APKINDEX.tar.gz"
    atomic_write_bytes(output, write_index(records, description=args.description, key=key))
    ui.out.print(f"wrote {output}: {len(records)} packages, signed by {key.key_name}", markup=False)
    return 0


def _record(path: Path) -> IndexRecord:

    data = _read(path)
    # As `apk index` does, read the whole package first: a truncated or altered one must
    # not be listed (the signer is not checked here; the index gets its own signature).
    verify_package(data, where=str(path), keyring=None, allow_untrusted=True)
    record = record_from_package(data, where=str(path))
    if path.name != record.filename:
        raise ApkFormatError(
            f"the package inside is {record.filename}",
            where=str(path),
            hint="apk fetches <name>-<version>.apk; rename the file",
        )
    return record


def sort_records(records: list[IndexRecord]) -> list[IndexRecord]:
    """By name, then apk version order (the version module is only needed for repeats)."""
    ordered: list[IndexRecord] = []
    for _name, group in groupby(sorted(records, key=lambda r: r.name), key=lambda r: r.name):
        same = list(group)
        if len(same) > 1:
            same.sort(key=cmp_to_key(lambda a, b: compare_versions(a.version, b.version)))
        ordered.extend(same)
    return ordered


def _check_unique(records: list[IndexRecord], folder: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for record in records:
        if (record.name, record.version) in seen:
            raise ApkFormatError(
                f"two packages are {record.name}-{record.version}", where=str(folder)
            )
        seen.add((record.name, record.version))


# --------------------------------------------------------------------------------------------
# show


def run_show(args: argparse.Namespace) -> int:
    keyring = _keyring(args)
    path: Path = args.path
    data = _read(path)
    if _is_package(path):
        text = _show_package(data, str(path), keyring, args.allow_untrusted, args.json)
    else:
        try:
            index = parse_index(
                data, where=str(path), keyring=keyring, allow_untrusted=args.allow_untrusted
            )
        except ApkFormatError as err:
            rebuild = shlex.join(
                ["buildkit", "apk", "index", str(path.parent), "--signing-key", "keys/buildkit.rsa"]
            )
            step = f"rebuild it from its packages with `{rebuild}`"
            err.hint = f"{err.hint}; {step}" if err.hint else step
            raise
        text = _index_json(index) if args.json else "".join(map(render_record, index.records))
    # Plain writes: an index can be 100 MB of text, too much to send through rich.
    sys.stdout.write(text)
    return 0


def _show_package(
    data: bytes, where: str, keyring: Keyring | None, allow_untrusted: bool, as_json: bool
) -> str:

    if keyring is None:
        layout = read_layout(data, where=where)
    else:
        layout = verify_package(data, where=where, keyring=keyring, allow_untrusted=allow_untrusted)
    if not as_json:
        return _raw_pkginfo(data, layout.control.start, where)
    document = {
        "identity": layout.identity,
        "signer": layout.signer,
        "verified": keyring is not None,
        "pkginfo": dataclasses.asdict(layout.pkginfo),
    }
    return _json(document)


def _raw_pkginfo(data: bytes, control_start: int, where: str) -> str:
    """.PKGINFO exactly as the package carries it."""
    control = next(iter_members(data, where=where, start=control_start))
    for entry in parse_tar(control.data, where=where):
        if entry.name == ".PKGINFO":
            return entry.content.decode("utf-8", errors="replace")
    raise ApkFormatError("no .PKGINFO in the control member", where=where)


def _index_json(index: ApkIndex) -> str:
    return _json(
        {
            "description": index.description,
            "signers": list(index.signers),
            "records": [dataclasses.asdict(record) for record in index.records],
        }
    )


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
