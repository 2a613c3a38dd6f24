"""The one place that builds container command lines and runs tools in them.

- ``images``: image references and the digest-pinning rule (pure)
- ``spec``: ContainerSpec -> ``docker run`` argv, and the load/tag/push/inspect/manifest lines
- ``mounts``: which host folders a run sees, read-only unless it writes them (pure)
- ``tools``: apko and melange jobs -> their argv (pure)
- ``engine``: docker or podman: detection, image checks, running with a log per action
- ``facade``: ``Toolchain`` = engine + pinned apko and melange images for a project
"""

from __future__ import annotations

from buildkit.imageref import ImageRef, local_name, parse_image_ref
from buildkit.toolchain.engine import Engine, check_digest
from buildkit.toolchain.facade import (
    Toolchain,
    apko_spec,
    melange_spec,
    needs_ownership_fix,
    ownership_fix_spec,
    version_spec,
)
from buildkit.toolchain.mounts import MountPlan, plan_mounts
from buildkit.toolchain.process import Completed, Runner, run_process
from buildkit.toolchain.spec import (
    WORKDIR,
    ContainerSpec,
    Mount,
    Network,
    Owner,
    container_path,
    inspect_argv,
    load_argv,
    manifest_annotate_argv,
    manifest_create_argv,
    manifest_inspect_argv,
    manifest_push_argv,
    manifest_rm_argv,
    pull_argv,
    push_argv,
    run_argv,
    tag_argv,
)
from buildkit.toolchain.tools import (
    ApkoBuild,
    ApkoLock,
    MelangeBuild,
    apko_build_args,
    apko_lock_args,
    melange_build_args,
    parse_tool_version,
)

__all__ = [
    "WORKDIR",
    "ApkoBuild",
    "ApkoLock",
    "Completed",
    "ContainerSpec",
    "Engine",
    "ImageRef",
    "MelangeBuild",
    "Mount",
    "MountPlan",
    "Network",
    "Owner",
    "Runner",
    "Toolchain",
    "apko_build_args",
    "apko_lock_args",
    "apko_spec",
    "check_digest",
    "container_path",
    "inspect_argv",
    "load_argv",
    "local_name",
    "manifest_annotate_argv",
    "manifest_create_argv",
    "manifest_inspect_argv",
    "manifest_push_argv",
    "manifest_rm_argv",
    "melange_build_args",
    "melange_spec",
    "needs_ownership_fix",
    "ownership_fix_spec",
    "parse_image_ref",
    "parse_tool_version",
    "plan_mounts",
    "pull_argv",
    "push_argv",
    "run_argv",
    "run_process",
    "tag_argv",
    "version_spec",
]
