"""Every network read is bounded: `lock` against a hostile server (tests/helpers/hostile_server.py)
fails within the configured deadline and sizes, with one line naming the URL and the limit.

The cases go through the real lock code path (``lock_project``: keyring, indexes, packages)
with limits set the way users set them (``BUILDKIT_*`` variables). No timing assertions: the
server counts what it sent, which shows the client stopped reading at the limit (endless,
oversized) or hung up at the deadline (a trickle of one byte per interval).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildkit.apk.keys import SigningKey
from buildkit.cli import main
from buildkit.errors import (
    ApkFormatError,
    BuildkitError,
    ConfigError,
    FetchError,
    LockError,
    SignatureError,
    SigningKeyError,
)
from buildkit.fsutil import human_size, parse_size
from buildkit.project.config import load_project
from buildkit.repo import FetchLimitError
from buildkit.usecases.locking import LockOptions, lock_project
from buildkit.usecases.worker_death import death_cause, oom_killed
from tests.helpers.hostile_server import Hostile, HostileServer, serving_hostile
from tests.helpers.repos import Pkg, make_repo

DEADLINE = 2  # seconds: BUILDKIT_FETCH_TIMEOUT in these tests
INDEX = "/os/x86_64/APKINDEX.tar.gz"
KEY = "/keys/test.rsa.pub"
PACKAGE = "/os/x86_64/app-1.0-r0.apk"
PACKAGES = [Pkg("app", "1.0-r0", depends=("lib",)), Pkg("lib", "1.0-r0")]


@dataclass(frozen=True)
class Case:
    path: str  # which file the server makes hostile
    hostile: Hostile
    error: type[BuildkitError]
    says: str  # a fragment the one-line message must contain
    env: tuple[tuple[str, str], ...] = ()


MiB = 1 << 20
SIZES = (
    ("BUILDKIT_MAX_INDEX_SIZE", "1M"),
    ("BUILDKIT_MAX_KEY_SIZE", "64K"),
    ("BUILDKIT_MAX_PACKAGE_SIZE", "1M"),
)
_DEADLINE = f"no complete response within the {DEADLINE} s deadline"
CASES = {
    "endless index": Case(
        INDEX, Hostile("endless"), FetchLimitError, "the index is larger than the 1 MiB limit"
    ),
    "stalled index": Case(INDEX, Hostile("stalled"), FetchLimitError, _DEADLINE),
    "stalled index headers": Case(INDEX, Hostile("stalled-headers"), FetchLimitError, _DEADLINE),
    "silent index server": Case(INDEX, Hostile("silent"), FetchLimitError, _DEADLINE),
    "oversized index": Case(
        INDEX, Hostile("oversized", size=8 * MiB), FetchLimitError, "the server announces 8 MiB"
    ),
    "tampered index": Case(INDEX, Hostile("tampered"), SignatureError, INDEX),
    "endless key": Case(
        KEY, Hostile("endless"), FetchLimitError, "the public key is larger than the 64 KiB limit"
    ),
    "stalled key": Case(KEY, Hostile("stalled"), FetchLimitError, _DEADLINE),
    "oversized key": Case(
        KEY, Hostile("oversized", size=MiB), FetchLimitError, "the server announces 1 MiB"
    ),
    "tampered key": Case(KEY, Hostile("tampered", offset=40), SigningKeyError, KEY),
    "endless package": Case(
        PACKAGE, Hostile("endless"), FetchLimitError, "the package is larger than the 1 MiB limit"
    ),
    "stalled package": Case(PACKAGE, Hostile("stalled"), FetchLimitError, _DEADLINE),
    "oversized package": Case(
        PACKAGE, Hostile("oversized", size=2 * MiB), FetchLimitError, "announces 2 MiB"
    ),
    "tampered package": Case(PACKAGE, Hostile("tampered"), ApkFormatError, PACKAGE),
}


@pytest.fixture
def served(tmp_path: Path, signing_key: SigningKey) -> Path:
    """An honest signed repository and key under ``srv/``, for the server to serve."""
    root = tmp_path / "srv"
    make_repo(root / "os", "x86_64", PACKAGES, signing_key)
    (root / "keys").mkdir()
    (root / "keys" / "test.rsa.pub").write_bytes(signing_key.public_pem)
    return root


def _project(tmp_path: Path, url: str, archs: tuple[str, ...] = ("x86_64",)) -> Path:
    root = tmp_path / "project"
    (root / "frameworks").mkdir(parents=True, exist_ok=True)
    (root / "buildkit.toml").write_text(f"[project]\narchs = {list(archs)!r}\n".replace("'", '"'))
    (root / "frameworks" / "demo.yaml").write_text(
        f"contents:\n  keyring:\n    - {url}{KEY}\n  repositories:\n    - {url}/os\n"
        "  packages:\n    - app\nentrypoint:\n  command: /bin/sh\n"
    )
    return root


def _lock(root: Path, *, parallel: bool = False, cache: bool = True) -> None:
    # cache=False: the resolution cache's key reads every index in this process first.
    options = LockOptions(parallel=parallel, packages=False, cache=cache)
    lock_project(load_project(root), options)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BUILDKIT_FETCH_TIMEOUT", str(DEADLINE))
    for name, value in SIZES:
        monkeypatch.setenv(name, value)


def _sent_at_most(server: HostileServer, case: Case) -> int:
    """What the server may have sent before the client hung up: the limit plus what the
    sockets buffer (endless, oversized); a byte per interval up to the deadline (stalled)."""
    if case.hostile.mode in ("stalled", "stalled-headers", "silent"):
        return int(DEADLINE / case.hostile.interval) + 2
    return 1 * MiB + 32 * MiB  # the largest limit here + generous kernel socket buffers


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_hostile_response_fails_the_lock_within_its_limit_in_one_line(
    tmp_path: Path, served: Path, case: Case
) -> None:
    with serving_hostile(served) as server:
        server.routes[case.path] = case.hostile
        root = _project(tmp_path, server.url)
        with pytest.raises(BuildkitError) as caught:
            _lock(root)
        sent = server.sent.get(case.path, 0)
    error = caught.value
    assert isinstance(error, case.error), error
    line = str(error)
    assert "\n" not in line
    assert case.says in line
    assert f"{server.url}{case.path}" in line  # the URL it is about
    assert sent <= _sent_at_most(server, case)
    assert not (root / "lockfiles").exists()  # nothing half-written


@pytest.mark.usefixtures("limits")
def test_an_honest_server_locks_under_the_same_limits(tmp_path: Path, served: Path) -> None:
    with serving_hostile(served) as server:
        root = _project(tmp_path, server.url)
        _lock(root)
    assert (root / "lockfiles" / "demo.lock.json").is_file()


@pytest.mark.usefixtures("limits")
def test_a_lock_worker_reports_the_limit_it_hit_intact(
    tmp_path: Path, served: Path, signing_key: SigningKey
) -> None:
    make_repo(served / "os", "aarch64", PACKAGES, signing_key)
    with serving_hostile(served) as server:
        server.routes["/os/aarch64/APKINDEX.tar.gz"] = Hostile("endless")
        root = _project(tmp_path, server.url, archs=("x86_64", "aarch64"))
        with pytest.raises(FetchLimitError) as caught:
            _lock(root, parallel=True, cache=False)
    assert "the index is larger than the 1 MiB limit" in str(caught.value)
    assert caught.value.where == f"{server.url}/os/aarch64/APKINDEX.tar.gz"


@pytest.mark.usefixtures("limits")
def test_the_cli_prints_the_limit_and_exits_1(
    tmp_path: Path, served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving_hostile(served) as server:
        server.routes[INDEX] = Hostile("stalled")
        root = _project(tmp_path, server.url)
        assert main(["-C", str(root), "lock"]) == FetchError.exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert _DEADLINE in err
    assert "BUILDKIT_FETCH_TIMEOUT" in err


# --------------------------------------------------------------------------------------------
# Local inputs: only regular files, each kind with a size limit


@pytest.fixture
def local_project(tmp_path: Path, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUILDKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "project"
    make_repo(root / "repo", "x86_64", PACKAGES, signing_key)
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "test.rsa.pub").write_bytes(signing_key.public_pem)
    (root / "frameworks").mkdir()
    (root / "buildkit.toml").write_text('[project]\narchs = ["x86_64"]\n')
    (root / "frameworks" / "demo.yaml").write_text(
        "contents:\n  keyring:\n    - ./keys/test.rsa.pub\n  repositories:\n    - ./repo\n"
        "  packages:\n    - app\nentrypoint:\n  command: /bin/sh\n"
    )
    return root


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


LOCAL = {
    # name: (file made hostile, how, error, message fragment)
    "FIFO keyring": ("keys/test.rsa.pub", "fifo", ConfigError, "a FIFO, not a regular file"),
    "FIFO framework": ("frameworks/demo.yaml", "fifo", ConfigError, "a FIFO, not a regular file"),
    "FIFO buildkit.toml": ("buildkit.toml", "fifo", ConfigError, "a FIFO, not a regular file"),
    "FIFO lockfile": ("lockfiles/demo.lock.json", "fifo", LockError, "a FIFO"),
    "FIFO local index": ("repo/x86_64/APKINDEX.tar.gz", "fifo", FetchError, "a FIFO"),
    "huge framework": (
        "frameworks/demo.yaml",
        "huge",
        ConfigError,
        "more than the 4 MiB limit for a config (raise BUILDKIT_MAX_CONFIG_SIZE",
    ),
    "huge keyring file": ("keys/test.rsa.pub", "huge", ConfigError, "limit for a key"),
    "folder as keyring": ("keys/test.rsa.pub", "folder", ConfigError, "a folder"),
}


@pytest.mark.parametrize(("target", "how", "error", "says"), LOCAL.values(), ids=LOCAL.keys())
def test_a_local_input_that_is_no_regular_file_or_too_large_fails_in_one_line(
    local_project: Path, target: str, how: str, error: type[BuildkitError], says: str
) -> None:
    path = local_project / target
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "fifo":
        _fifo(path)
    elif how == "folder":
        path.unlink()
        path.mkdir()
    else:
        head = path.read_bytes() if path.exists() else b""
        path.write_bytes(head + b"#" * (65 * MiB))
    with pytest.raises(error) as caught:
        _lock(local_project)
    line = str(caught.value)
    assert says in line
    assert "\n" not in line
    assert str(path) in line


def test_lock_writes_again_a_lockfile_over_the_size_limit_that_check_reports(
    local_project: Path,
) -> None:
    """The hint of an oversized lockfile says to lock again: `lock` must then replace it
    (it never reads it), and `lock --check` names it and the limit."""
    path = local_project / "lockfiles" / "demo.lock.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"#" * (17 * MiB))
    results = lock_project(load_project(local_project), LockOptions(packages=False, check=True))
    assert [result.differences for result in results] == [
        [
            f"lockfile is unreadable: {path}: cannot read lockfile: 17 MiB, more than the 16 MiB"
            " limit for a lockfile (regenerate it with `nox -s lock -- demo`, or raise "
            "BUILDKIT_MAX_LOCKFILE_SIZE if it is genuine)"
        ]
    ]
    assert path.stat().st_size == 17 * MiB
    _lock(local_project)
    assert path.read_bytes().startswith(b'{\n  "version": "v1",')


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BUILDKIT_FETCH_TIMEOUT", "soon", "limits.fetch_timeout must be a positive number"),
        ("BUILDKIT_FETCH_TIMEOUT", "-1", "limits.fetch_timeout must be a positive number"),
        ("BUILDKIT_MAX_INDEX_SIZE", "big", "limits.max_index_size must be a positive size"),
        ("BUILDKIT_MAX_PACKAGE_SIZE", "0", "limits.max_package_size must be a positive size"),
        ("BUILDKIT_TOOL_TIMEOUT", "inf", "limits.tool_timeout must be a positive number"),
    ],
)
def test_a_malformed_limit_is_refused_naming_its_variable(
    local_project: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_project(local_project)
    assert says in str(caught.value)
    assert caught.value.where == f"environment ({variable})"


def test_limits_come_from_buildkit_toml_and_the_environment_wins(
    local_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (local_project / "buildkit.toml").write_text(
        '[limits]\nfetch_timeout = 90\nmax_index_size = "64M"\nmax_key_size = 4096\n'
        "tool_timeout = 600\n"
    )
    monkeypatch.setenv("BUILDKIT_MAX_INDEX_SIZE", "2G")
    config = load_project(local_project)
    assert config.fetch_limits.deadline == 90
    assert config.fetch_limits.index == 2 << 30
    assert config.fetch_limits.key == 4096
    assert config.tool_timeout == 600


# --------------------------------------------------------------------------------------------
# A lock worker that dies says why


@pytest.mark.parametrize(
    ("exitcode", "rss_limit", "oom", "says"),
    [
        (-9, None, False, " (killed by SIGKILL, signal 9)"),
        (-9, None, True, " (killed by SIGKILL, signal 9: out of memory, the kernel's"),
        (-9, 256 << 20, False, "signal 9: out of memory, past its 256 MiB limit"),
        (-15, None, True, " (killed by SIGTERM, signal 15)"),  # only SIGKILL is the OOM killer's
        (-11, None, False, " (killed by SIGSEGV, signal 11)"),
        (-77, None, False, " (killed by signal 77, signal 77)"),
        (3, None, False, " (exit status 3)"),
        (None, None, False, ""),
    ],
)
def test_a_dead_workers_cause_is_named(
    exitcode: int | None, rss_limit: int | None, oom: bool, says: str
) -> None:
    cause = death_cause(exitcode, 4242, rss_limit=rss_limit, oom=lambda _pid: oom)
    assert says in cause
    assert bool(says) == bool(cause)


@pytest.mark.parametrize(
    ("line", "killed"),
    [
        ("3,1234,567,-;Out of memory: Killed process 4242 (python3) total-vm:1kB", True),
        ("6,99,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,task=python3,pid=4242,uid=0", True),
        ("3,1,1,-;Memory cgroup out of memory: Killed process 4242 (python3)", True),
        ("3,1,1,-;Out of memory: Killed process 42424 (python3)", False),
        ("6,99,1,-;oom-kill:constraint=CONSTRAINT_NONE,task=x,pid=14242,uid=0", False),
    ],
)
def test_the_kernels_oom_record_is_matched_by_pid(line: str, killed: bool) -> None:
    assert oom_killed(4242, iter([line])) is killed


@pytest.mark.usefixtures("limits")
def test_a_worker_past_the_memory_limit_is_reported_as_out_of_memory(
    tmp_path: Path, served: Path, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repo(served / "os", "aarch64", PACKAGES, signing_key)
    monkeypatch.setenv("BUILDKIT_MAX_INDEX_SIZE", "4G")  # the index limit would come too late
    monkeypatch.setenv("BUILDKIT_FETCH_TIMEOUT", "120")
    monkeypatch.setenv("BUILDKIT_LOCK_MEMORY_LIMIT", "300M")
    with serving_hostile(served) as server:
        server.routes["/os/aarch64/APKINDEX.tar.gz"] = Hostile("endless")
        root = _project(tmp_path, server.url, archs=("x86_64", "aarch64"))
        with pytest.raises(BuildkitError) as caught:
            _lock(root, parallel=True, cache=False)
    assert str(caught.value).startswith(
        "the aarch64 lock worker exited unexpectedly (killed by SIGKILL, signal 9: out of "
        "memory, past its 300 MiB limit (BUILDKIT_LOCK_MEMORY_LIMIT))"
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1 << 20), ("512K", 512 << 10), ("64M", 64 << 20), ("2G", 2 << 30),
     ("64MiB", 64 << 20), ("1gb", 1 << 30), (" 8m ", 8 << 20)],
)  # fmt: skip
def test_sizes_are_read_in_bytes_or_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1M", "1.5G", "big", "1T", "M"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(1, "1 byte"), (100, "100 bytes"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB"),
     (3 << 29, "1.5 GiB"), (512 << 20, "512 MiB")],
)  # fmt: skip
def test_sizes_in_messages_read_as_people_write_them(size: int, shown: str) -> None:
    assert human_size(size) == shown
