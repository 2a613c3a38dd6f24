"""Running apko and melange: job -> mounts -> ContainerSpec -> engine.

The spec builders are pure (tested as tables); :class:`Toolchain` adds the engine, the pinned
images (pulled and digest-checked once per process) and the ownership fix for melange.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from buildkit.errors import ToolchainError
from buildkit.imageref import ImageRef, parse_image_ref
from buildkit.toolchain.engine import Engine
from buildkit.toolchain.mounts import MountPlan, plan_mounts
from buildkit.toolchain.settings import ToolSettings
from buildkit.toolchain.spec import ContainerSpec, Mount, Network, Owner
from buildkit.toolchain.tools import (
    ApkoBuild,
    ApkoLock,
    MelangeBuild,
    apko_build_args,
    apko_lock_args,
    melange_build_args,
    parse_tool_version,
)

HELPER_TARGET = "/.buildkit/busybox"
CONTAINER_TMP = "/tmp"  # noqa: S108 - inside the container: the image's own sticky /tmp
# A static busybox of the host's arch, used only to chown melange outputs (the tool images are
# FROM scratch). scripts/setup provides both; keyed by the host machine name.
HELPER_ENV = {"x86_64": "BUILDKIT_BUSYBOX_AMD64", "aarch64": "BUILDKIT_BUSYBOX_ARM64"}


KEYS_DIR = "keys"
NULL_DEVICE = Path("/dev/null")


def _plan(job: ApkoBuild | ApkoLock | MelangeBuild, project: Path) -> MountPlan:
    return plan_mounts(project, writable=(*job.outputs, *job.caches), inputs=job.inputs)


def secret_files(project: Path) -> tuple[Path, ...]:
    """What a tool must not read from the project: every file in ``keys/`` but the public keys
    (``*.pub``) and the README, i.e. private signing keys, the cosign key, passwords."""
    folder = project / KEYS_DIR
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return ()
    return tuple(
        path
        for path in entries
        if not path.name.endswith(".pub") and not path.name.startswith("README")
    )


def _masks(plan: MountPlan, hidden: Sequence[Path], keep: Path | None = None) -> tuple[Mount, ...]:
    """/dev/null mounted read-only over each hidden file (all but ``keep``): the container
    sees an empty file where the secret is."""
    kept = keep.resolve() if keep is not None else None
    return tuple(
        (NULL_DEVICE, plan.to_container(path), True) for path in hidden if path.resolve() != kept
    )


def apko_spec(
    job: ApkoBuild | ApkoLock,
    *,
    image: ImageRef,
    project: Path,
    owner: Owner,
    source_date_epoch: int | None,
    network: Network,
    hidden: Sequence[Path] = (),
) -> ContainerSpec:
    """apko runs as the invoking user, so what it writes is theirs (root: the image's user).
    It signs nothing: every file of ``hidden`` (``secret_files``) is masked."""
    plan = _plan(job, project)
    args = (
        apko_build_args(job, plan.to_container)
        if isinstance(job, ApkoBuild)
        else apko_lock_args(job, plan.to_container)
    )
    user = None if owner.is_root else owner
    return ContainerSpec(
        image=image,
        args=args,
        workdir_mount=project,
        workdir_read_only=not plan.project_writable,
        # The image's HOME (/root) is not writable by another uid.
        env={"HOME": CONTAINER_TMP} if user else {},
        network=network,
        extra_mounts=(*plan.mounts, *_masks(plan, hidden)),
        source_date_epoch=source_date_epoch,
        user=user,
    )


def melange_spec(
    job: MelangeBuild,
    *,
    image: ImageRef,
    project: Path,
    source_date_epoch: int | None,
    network: Network,
    hidden: Sequence[Path] = (),
) -> ContainerSpec:
    """melange runs as root and privileged: its bubblewrap runner needs namespaces. Of the
    ``hidden`` files it sees only its own signing key."""
    plan = _plan(job, project)
    return ContainerSpec(
        image=image,
        args=melange_build_args(job, plan.to_container),
        workdir_mount=project,
        workdir_read_only=not plan.project_writable,
        network=network,
        privileged=True,
        extra_mounts=(*plan.mounts, *_masks(plan, hidden, keep=job.signing_key)),
        source_date_epoch=source_date_epoch,
    )


def ownership_fix_spec(
    job: MelangeBuild, *, image: ImageRef, project: Path, owner: Owner, helper: Path
) -> ContainerSpec:
    """Hand melange's outputs (written as container root) back to the invoking user."""
    plan = _plan(job, project)
    return ContainerSpec(
        image=image,
        args=("chown", "-R", str(owner), *plan.writable),
        workdir_mount=project,
        workdir_read_only=True,
        network="none",
        extra_mounts=(*plan.mounts, (helper, HELPER_TARGET, True)),
        entrypoint=HELPER_TARGET,
    )


def needs_ownership_fix(owner: Owner, *, rootless_engine: bool) -> bool:
    """Root-in-container files belong to the user anyway as root or with a rootless engine."""
    return not owner.is_root and not rootless_engine


def version_spec(image: ImageRef, project: Path) -> ContainerSpec:
    return ContainerSpec(
        image=image, args=("version",), workdir_mount=project, workdir_read_only=True
    )


def _default_helper(env: Mapping[str, str]) -> Path | None:
    name = HELPER_ENV.get(platform.machine())
    value = env.get(name) if name else None
    return Path(value) if value else None


class Toolchain:
    """The engine plus the two pinned tool images, for one project."""

    def __init__(
        self,
        *,
        engine: Engine,
        apko_image: ImageRef,
        melange_image: ImageRef,
        project: Path,
        owner: Owner | None = None,
        offline: bool = False,
        chown_helper: Path | None = None,
    ) -> None:
        self.engine = engine
        self.apko_image = apko_image
        self.melange_image = melange_image
        self.project = project
        self.owner = owner or Owner.current()
        self.offline = offline
        self.chown_helper = chown_helper
        self._ready: set[ImageRef] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: ToolSettings,
        *,
        offline: bool = False,
        allow_unpinned: bool = False,
        engine: Engine | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Toolchain:
        """Parse the pins first (no engine needed to refuse a bad one), then detect the engine."""
        env = os.environ if env is None else env
        unpinned = allow_unpinned or config.allow_unpinned
        apko = parse_image_ref(
            config.apko_image, unpinned, where="tools.apko (buildkit.toml / BUILDKIT_APKO_IMAGE)"
        )
        melange = parse_image_ref(
            config.melange_image,
            unpinned,
            where="tools.melange (buildkit.toml / BUILDKIT_MELANGE_IMAGE)",
        )
        return cls(
            engine=engine or Engine.detect(config, env=env),
            apko_image=apko,
            melange_image=melange,
            project=config.root,
            offline=offline,
            chown_helper=_default_helper(env),
        )

    def ensure(self, image: ImageRef) -> None:
        """Pull and digest-check ``image`` once per process (builds run in parallel threads)."""
        with self._lock:
            if image not in self._ready:
                self.engine.ensure_image(image, offline=self.offline)
                self._ready.add(image)

    def apko_build(
        self, job: ApkoBuild, *, log: Path, source_date_epoch: int, network: Network = "none"
    ) -> None:
        self._run_apko(job, log=log, source_date_epoch=source_date_epoch, network=network)

    def apko_lock(self, job: ApkoLock, *, log: Path, network: Network = "host") -> None:
        self._run_apko(job, log=log, source_date_epoch=None, network=network)

    def _run_apko(
        self,
        job: ApkoBuild | ApkoLock,
        *,
        log: Path,
        source_date_epoch: int | None,
        network: Network,
    ) -> None:
        self.ensure(self.apko_image)
        _make_dirs(job.outputs, job.caches)
        spec = apko_spec(
            job,
            image=self.apko_image,
            project=self.project,
            owner=self.owner,
            source_date_epoch=source_date_epoch,
            network=network,
            hidden=secret_files(self.project),
        )
        self.engine.run(spec, log=log)

    def melange_build(
        self, job: MelangeBuild, *, log: Path, source_date_epoch: int, network: Network = "none"
    ) -> None:
        """Run melange, then (even when it failed) give its outputs back to the invoking user."""
        self.ensure(self.melange_image)
        _make_dirs(job.outputs, job.caches)
        spec = melange_spec(
            job,
            image=self.melange_image,
            project=self.project,
            source_date_epoch=source_date_epoch,
            network=network,
            hidden=secret_files(self.project),
        )
        try:
            self.engine.run(spec, log=log)
        finally:
            self._fix_ownership(job, log=log.with_name(f"{log.stem}.chown{log.suffix}"))

    def _fix_ownership(self, job: MelangeBuild, *, log: Path) -> None:
        if not needs_ownership_fix(self.owner, rootless_engine=self.engine.rootless()):
            return
        if self.chown_helper is None or not self.chown_helper.is_file():
            name = HELPER_ENV.get(platform.machine(), "BUILDKIT_BUSYBOX_<ARCH>")
            raise ToolchainError(
                f"melange wrote its outputs as root and buildkit cannot give them back to uid "
                f"{self.owner.uid}: no static busybox to run chown with",
                hint=f"set {name} to a static busybox (scripts/setup provides one)",
            )
        spec = ownership_fix_spec(
            job,
            image=self.melange_image,
            project=self.project,
            owner=self.owner,
            helper=self.chown_helper,
        )
        self.engine.run(spec, log=log)

    def apko_version(self) -> str:
        self.ensure(self.apko_image)
        return parse_tool_version(self.engine.capture(version_spec(self.apko_image, self.project)))

    def melange_version(self) -> str:
        self.ensure(self.melange_image)
        text = self.engine.capture(version_spec(self.melange_image, self.project))
        return parse_tool_version(text)


def _make_dirs(outputs: tuple[Path, ...], caches: tuple[Path, ...]) -> None:
    # Mount sources must exist: docker would create them as root, podman refuses.
    for path in (*outputs, *caches):
        path.mkdir(parents=True, exist_ok=True)
