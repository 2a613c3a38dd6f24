"""A buildkit-like process that runs one long tool container, for the signal and timeout tests.

    python -m tests.helpers.sleeper PROJECT_DIR [TIMEOUT]

Runs a container of the pinned apko image whose entrypoint is the machine's static busybox,
``sleep 600``, through ``Engine.run`` under ``containers_stopped_on_signals`` (as the command
line does), with TIMEOUT seconds as its tool timeout (default: the engine's). Prints the error
line and exits with the command line's status.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from buildkit.errors import BuildkitError, Terminated
from buildkit.project.config import ProjectConfig
from buildkit.toolchain import ContainerSpec, Engine, parse_image_ref
from buildkit.toolchain.engine import containers_stopped_on_signals
from buildkit.toolchain.facade import HELPER_TARGET


def main(project: Path, timeout: float | None) -> int:
    engine = Engine.detect(
        ProjectConfig(root=project, engine=os.environ.get("BUILDKIT_ENGINE") or "auto")
    )
    spec = ContainerSpec(
        image=parse_image_ref(os.environ["BUILDKIT_APKO_IMAGE"]),
        args=("sleep", "600"),
        workdir_mount=project,
        workdir_read_only=True,
        entrypoint=HELPER_TARGET,
        extra_mounts=((Path(os.environ["BUILDKIT_BUSYBOX_AMD64"]), HELPER_TARGET, True),),
    )
    try:
        with containers_stopped_on_signals():
            engine.run(spec, log=project / "sleep.log", timeout=timeout)
    except BuildkitError as err:
        print(err, file=sys.stderr)
        return err.exit_code
    except Terminated:
        return Terminated.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None))
