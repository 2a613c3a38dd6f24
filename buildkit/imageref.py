"""Image references (``registry/name[:tag]@sha256:<hex>``): parsing and the pinning rule.

Pure: no engine, no network. A tool image that is not pinned by digest could change under a
build without any input changing, so it is refused unless the user opts out explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from buildkit.errors import ConfigError, ToolchainError

# The grammar of github.com/distribution/reference, which docker and podman both follow.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME_RE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_ANY_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-zA-Z=_-]+")


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """A container image reference. ``name`` includes the registry (``127.0.0.1:5000/x/apko``)."""

    name: str
    digest: str | None  # "sha256:<64 hex>", None only when unpinned images were allowed
    tag: str | None = None

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    @property
    def run_ref(self) -> str:
        """What to hand the engine: by digest when pinned (the tag is then only a label)."""
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or 'latest'}"

    @property
    def registry(self) -> str | None:
        """The registry host[:port], or None for Docker Hub's implicit one."""
        first, sep, _ = self.name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            return first
        return None

    def __str__(self) -> str:
        text = self.name + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


def _upper_path(name: str) -> bool:
    """A first part without '.', ':' or "localhost" is a path component, not a registry host,
    and path components are lowercase (podman refuses `Team/app`; docker misreads it)."""
    first, sep, _ = name.partition("/")
    is_host = "." in first or ":" in first or first == "localhost" or first.startswith("[")
    return bool(sep) and not is_host and first != first.lower()


def pinned_digest(text: str) -> str | None:
    """The digest of ``name[:tag]@digest`` (not validated), or None when it has none."""
    return _split(text)[2]


def _split(text: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest), without validating the parts."""
    rest, at, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    # A colon after the last slash starts a tag; before it, it is a registry port.
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest if at else None
    return rest, None, digest if at else None


def parse_image_ref(
    text: str, allow_unpinned: bool = False, *, where: str | None = None
) -> ImageRef:
    """Parse and validate ``text``; refuse a reference without a sha256 digest unless allowed.

    Raises ConfigError for a malformed reference and ToolchainError for an unpinned one.
    """
    value = text.strip()
    name, tag, digest = _split(value)
    if not value or not _NAME_RE.fullmatch(name) or _upper_path(name):
        raise ConfigError(
            f"invalid image reference {text!r}: bad repository name {name!r}",
            where=where,
            hint="expected registry/name[:tag]@sha256:<64 hex digits>",
        )
    if tag is not None and not _TAG_RE.fullmatch(tag):
        raise ConfigError(
            f"invalid image reference {text!r}: bad tag {tag!r}",
            where=where,
            hint="a tag is up to 128 letters, digits, '_', '.' or '-'",
        )
    if digest is not None and not _DIGEST_RE.fullmatch(digest):
        reason = (
            "only sha256 digests are supported"
            if _ANY_DIGEST_RE.fullmatch(digest) and not digest.startswith("sha256:")
            else f"bad digest {digest!r}"
        )
        raise ConfigError(
            f"invalid image reference {text!r}: {reason}",
            where=where,
            hint="a digest is sha256: followed by 64 lowercase hex digits",
        )
    if digest is None and not allow_unpinned:
        raise ToolchainError(
            f"image {value} is not pinned by digest",
            where=where,
            hint=f"pin it as {name}@sha256:<digest> or pass --allow-unpinned",
        )
    return ImageRef(name=name, digest=digest, tag=tag)


def local_name(name: str) -> str:
    """An image name without the registry an engine adds on its own when loading or pulling:
    podman prefixes ``localhost/`` to loaded names, and both engines spell Docker Hub's
    implicit registry out (``docker.io/``, ``docker.io/library/``)."""
    for prefix in ("localhost/", "docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name
