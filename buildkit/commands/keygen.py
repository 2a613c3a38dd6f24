"""`buildkit keygen [NAME]`: create the project's RSA signing key pair.

Writes ``keys/NAME.rsa`` (PKCS#1 PEM, mode 0600, never committed) and ``keys/NAME.rsa.pub``
(SPKI PEM, committed) under the project root, as `melange keygen` would. NAME defaults to
buildkit.toml's ``signing_key``. Existing keys are never overwritten.

`buildkit keygen --cosign` makes the cosign pair instead; `--cosign --check` checks the one
there is (COSIGN_PASSWORD opens it, and keys/cosign.pub is its pair), as publish does before
it pushes. scripts/setup runs the check on a checkout that already has a pair.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from buildkit import hints, ui
from buildkit.apk.keys import fingerprint, generate_keypair
from buildkit.errors import KeyError_
from buildkit.project.config import ProjectConfig, load_project
from buildkit.toolchain import Engine, ImageRef, parse_image_ref
from buildkit.toolchain.supply import cosign_keygen_spec
from buildkit.usecases.publishing import check_cosign_key

# A bare file name: it becomes the key's identity in every signature (.SIGN.RSA256.NAME.rsa.pub).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]*")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "keygen",
        help="create the RSA signing key pair (keys/NAME.rsa and keys/NAME.rsa.pub)",
        description="Create a 4096-bit RSA key pair under the project's keys/ folder. "
        "Never overwrites; prints the public key's path and fingerprint.",
    )
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help="key name (default: buildkit.toml signing_key)"
    )
    parser.add_argument(
        "--cosign",
        action="store_true",
        help="create the cosign key pair instead ([publish] cosign_key: keys/cosign.key + "
        ".pub) with `cosign generate-key-pair`; the password comes from COSIGN_PASSWORD",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="with --cosign: make nothing, check that COSIGN_PASSWORD opens the existing "
        "keys/cosign.key and that keys/cosign.pub is its pair (as publish does before pushing)",
    )
    parser.set_defaults(func=run)


def private_key_path(root: Path, name: str | None) -> Path:
    """keys/NAME.rsa under ``root``, or the configured signing key when NAME is not given."""
    if name is None:
        return load_project(root).signing_key
    stem = name.removesuffix(".rsa")
    if not _NAME.fullmatch(stem) or stem.endswith(".rsa.pub"):
        err = KeyError_(
            f"invalid key name {name!r}",
            hint="use a plain file name such as 'buildkit' (letters, digits, @ . _ + -)",
        )
        # The command line's hint repeats the command with the name made plain.
        err.correction = (name, re.sub(r"[^A-Za-z0-9@._+-]", "", stem).lstrip(".") or "buildkit")
        raise err
    return Path(root).resolve() / "keys" / f"{stem}.rsa"


def run(args: argparse.Namespace) -> int:
    if args.check and not args.cosign:
        raise KeyError_(
            "--check checks the cosign key pair: it needs --cosign",
            hint=f"run `{hints.session_command('keygen', ['--cosign', '--check'])}`",
        )
    if args.cosign:
        return _cosign_check(args) if args.check else _cosign_keygen(args)
    private = private_key_path(Path(args.project), args.name)
    other = f"{private.name.removesuffix('.rsa')}-2"
    for path in (private, private.with_name(f"{private.name}.pub")):
        if path.exists():
            raise KeyError_(
                "key file already exists; refusing to overwrite it",
                where=str(path),
                hint=f"keep it, or make a pair under another name with "
                f"`{hints.session_command('keygen', [other])}` and set "
                f"project.signing_key = 'keys/{other}.rsa' in buildkit.toml",
            )
    _private, public = generate_keypair(private)
    ui.out.print(f"public key: {public}", markup=False)
    ui.out.print(
        f"fingerprint: {fingerprint(public.read_bytes(), where=str(public))}", markup=False
    )
    return 0


def _need_password() -> None:
    if "COSIGN_PASSWORD" not in os.environ:
        raise KeyError_(
            "COSIGN_PASSWORD is not set: the cosign key is encrypted with it",
            hint="export COSIGN_PASSWORD (scripts/setup keeps one in ~/.cache/buildkit)",
        )


def _cosign_engine(project: ProjectConfig) -> tuple[Engine, ImageRef]:
    image = parse_image_ref(
        project.cosign_image,
        project.allow_unpinned,
        where="tools.cosign (buildkit.toml / BUILDKIT_COSIGN_IMAGE)",
    )
    engine = Engine.detect(project)
    engine.ensure_image(image)
    return engine, image


def _cosign_check(args: argparse.Namespace) -> int:
    """The existing pair: COSIGN_PASSWORD opens keys/cosign.key, keys/cosign.pub is its pair."""
    project = load_project(args.project)
    key = project.cosign_key
    for path in (key, key.with_suffix(".pub")):
        if not path.is_file():
            raise KeyError_(
                f"no cosign key {path.name} to check",
                where=str(path),
                hint=f"make the pair with `{hints.session_command('keygen', ['--cosign'])}`",
            )
    _need_password()
    engine, image = _cosign_engine(project)
    shown = key.relative_to(project.root) if key.is_relative_to(project.root) else key
    check_cosign_key(
        engine,
        image,
        key,
        project=project.root,
        what=f"checking {shown}",
        outcome="publish would refuse to sign with it",
    )
    ui.out.print(
        f"ok: COSIGN_PASSWORD opens {shown} and {shown.with_suffix('.pub')} is its pair",
        markup=False,
    )
    return 0


def _cosign_keygen(args: argparse.Namespace) -> int:
    """keys/cosign.key (encrypted with COSIGN_PASSWORD, git-ignored) and keys/cosign.pub."""
    project = load_project(args.project)
    key = project.cosign_key
    if key.exists() or key.with_suffix(".pub").exists():
        raise KeyError_(
            "cosign key file already exists; refusing to overwrite it",
            where=str(key),
            hint="remove the old key pair yourself to make a new one, or check it with "
            f"`{hints.session_command('keygen', ['--cosign', '--check'])}`",
        )
    _need_password()
    engine, image = _cosign_engine(project)
    key.parent.mkdir(parents=True, exist_ok=True)
    engine.capture(cosign_keygen_spec(image, key=key, project=project.root), timeout=120)
    key.chmod(0o600)
    ui.out.print(f"public key: {key.with_suffix('.pub')}", markup=False)
    return 0
