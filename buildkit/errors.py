"""The one error hierarchy.

Every failure that a user can cause or fix is a :class:`BuildkitError`. Library code raises
them with the details in attributes; only the command line (``buildkit.cli``) and the nox
sessions (``buildkit.sessions``) turn them into one line on stderr and an exit code.
"""

from __future__ import annotations

from buildkit.redaction import redact


class BuildkitError(Exception):
    """Base class. ``str(err)`` is the single line shown to the user.

    Attributes:
        message: what is wrong.
        where: the file, URL or object it is about (``path``, ``path:line``, ``url``), if any.
        hint: what to do about it, if there is something to say.
        exit_code: the process exit status the command line uses (2 = bad input).
        correction: (wrong, right) when a word the user typed is misspelt and the right one
            is known (``--update replayot``): the command line's hint repeats the command with
            the word replaced (:func:`buildkit.hints.rerun`).
    """

    exit_code: int = 2
    correction: tuple[str, str] | None = None

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return redact(text)  # no password or token in any line shown to the user


class UsageError(BuildkitError):
    """The command line itself is wrong: an unknown option, a missing or malformed argument."""


class ConfigError(BuildkitError):
    """buildkit.toml, a framework (apko) config or a package (melange) config is invalid."""


class VersionError(BuildkitError):
    """An APK version string is invalid."""


class AtomError(BuildkitError):
    """A dependency atom (``name@tag>=1.2``) is invalid."""


class ApkFormatError(BuildkitError):
    """An .apk or APKINDEX is malformed or truncated."""


class SignatureError(BuildkitError):
    """A signature is missing, made by an unknown key, or does not match the signed bytes."""


class ChecksumError(BuildkitError):
    """Bytes do not match the checksum that names them (C: identity, datahash, file SHA-1)."""


class UnsafePathError(BuildkitError):
    """An archive member would escape the extraction root or is a device file."""


class FetchError(BuildkitError):
    """A repository, index, key or package could not be fetched."""

    exit_code = 1


class ResolveError(BuildkitError):
    """Packages cannot be resolved (nothing provides X, conflicts, arch skew)."""


class LockError(BuildkitError):
    """A lockfile is missing, stale or malformed."""


class StaleLockError(LockError):
    """A lockfile no longer matches its config or a fresh resolution (``lock --check``)."""

    exit_code = 1


class MissingLockfileError(LockError):
    """A framework has no lockfile yet. Like a stale one (the fix is the same: lock it), so
    the same exit status everywhere: build, verify, publish and ``lock --check``."""

    exit_code = 1


class SigningKeyError(BuildkitError):
    """A signing key is missing, unreadable, or would be overwritten."""


KeyError_ = SigningKeyError  # transitional alias; use SigningKeyError


class ToolchainError(BuildkitError):
    """The container engine or a tool image is unusable (missing, unpinned, digest mismatch)."""

    exit_code = 1


class ToolFailedError(BuildkitError):
    """A tool (apko, melange, docker) ran and failed. ``log`` names its log file."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        returncode: int | None = None,
        log: str | None = None,
        tail: str = "",
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.returncode = returncode
        self.log = log
        self.tail = tail


class FileSystemError(BuildkitError):
    """A file or folder cannot be read or written: permissions, a full disk, a file where a
    folder should be. The environment, not the input, is at fault."""

    exit_code = 1


class StoreError(BuildkitError):
    """The content-addressed store or a build record is missing or corrupt."""

    exit_code = 1


class PublishError(BuildkitError):
    """Publishing failed or was refused (registry down, auth, records do not match)."""

    exit_code = 1


class SecDbError(BuildkitError):
    """A security database (secdb, security.json) or a scan ignore file is malformed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM reached buildkit: it unwinds like an interrupt (containers already removed,
    see ``buildkit.toolchain.engine.containers_stopped_on_signals``) and exits 143."""

    exit_code = 143


def os_error(exc: OSError) -> FileSystemError:
    """One line for a file's OSError: the file it names, the system's reason."""
    where = str(exc.filename)
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return FileSystemError(
        exc.strerror or str(exc),
        where=where,
        hint="check the path, its permissions and the free disk space",
    )
