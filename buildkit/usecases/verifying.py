"""``verify``: build everything again into a temporary store and compare with the records.

A reproducible build gives the same bytes from the same inputs. For each local package and
each framework/arch, the current record must exist and carry the action key the inputs give
today (else it is out of date), and a fresh build (no cache: a temporary store, the tools run)
must give the same .apk digests, tarball digest, manifest and config digests and SBOMs. Each
difference is one line; none means the build verified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildkit.actions.plan import ImageAction, PackageAction
from buildkit.actions.records import ImageRecord, PackageRecord
from buildkit.digest import Blob
from buildkit.events import Reporter
from buildkit.hints import build_command
from buildkit.melange import build_order, load_package_configs, providers
from buildkit.project.config import ProjectConfig
from buildkit.project.layout import packages_for_frameworks
from buildkit.project.records import read_image_record, read_package_record
from buildkit.store import Store
from buildkit.usecases.build_context import BuildContext, Tools
from buildkit.usecases.image_builds import (
    build_image,
    check_local_sources,
    plan_images,
    record_path,
)
from buildkit.usecases.package_builds import package_record_path, run_melange, walk_packages


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    checked: tuple[str, ...]  # the actions rebuilt and compared
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_project(
    project: ProjectConfig,
    *,
    frameworks: Sequence[str] = (),
    archs: Sequence[str] = (),
    tools: Callable[[], Tools] | None = None,
    reporter: Reporter | None = None,
) -> VerifyResult:

    archs = tuple(archs) or project.archs
    with BuildContext(project, tools=tools, reporter=reporter) as context:
        actions = plan_images(context, frameworks, archs)
        check_local_sources(context, actions)
        with context.store.scratch_dir("verify") as scratch:
            fresh = BuildContext(
                project,
                store=Store(scratch / "dist"),
                tools=lambda: context.tools,
                reporter=context.reporter,
                logs=context.logs / "verify",  # kept: a failure's log outlives the scratch
            )
            checked: list[str] = []
            # Only the local packages the selected frameworks request, as `build` does.
            wanted = packages_for_frameworks(project, frameworks)
            selected = tuple(dict.fromkeys(a.framework.name for a in actions))
            differences = _verify_packages(
                context, fresh, archs, wanted, checked, frameworks=selected
            )
            for action in actions:
                differences += _verify_image(context, fresh, action)
                checked.append(action.label)
    return VerifyResult(checked=tuple(checked), differences=tuple(differences))


def _verify_packages(
    context: BuildContext,
    fresh: BuildContext,
    archs: Sequence[str],
    names: Sequence[str],
    checked: list[str],
    *,
    frameworks: Sequence[str] = (),
) -> list[str]:

    configs = load_package_configs(context.project.packages_dir, context.project.root)
    differences: list[str] = []

    def step(action: PackageAction) -> PackageRecord:
        path = package_record_path(context, action.config.name, action.arch)
        recorded = read_package_record(context.store, path)
        with fresh.action(f"verify {action.label}"):
            rebuilt = run_melange(fresh, action)
        command = build_command(*frameworks, arch=action.arch)
        differences.extend(_stale(action.label, recorded, action.key, path, command))
        if recorded is not None:
            differences.extend(
                _compare(
                    action.label,
                    {apk.filename: apk.blob for apk in recorded.apks},
                    {apk.filename: apk.blob for apk in rebuilt.apks},
                )
            )
        checked.append(action.label)
        return rebuilt

    for arch in archs:
        walk_packages(fresh, build_order(configs, names), providers(configs), arch, step)
    return differences


def _verify_image(context: BuildContext, fresh: BuildContext, action: ImageAction) -> list[str]:

    path = record_path(context, action.framework.name, action.arch)
    recorded = read_image_record(context.store, path)
    with fresh.action(f"verify {action.label}"):
        rebuilt = build_image(fresh, action)
    command = build_command(action.framework.name, arch=action.arch)
    differences = _stale(action.label, recorded, action.key, path, command)
    if recorded is None:
        return differences
    label = action.label
    pairs = (
        ("tarball", recorded.tarball.digest, rebuilt.tarball.digest),
        ("manifest digest", recorded.image.manifest_digest, rebuilt.image.manifest_digest),
        ("config digest", recorded.image.config_digest, rebuilt.image.config_digest),
    )
    differences += [
        f"{label}: {what} {old} in the record, {new} rebuilt"
        for what, old, new in pairs
        if old != new
    ]
    return differences + _compare(label, recorded.sboms, rebuilt.sboms)


def _stale(
    label: str,
    recorded: PackageRecord | ImageRecord | None,
    key: str,
    path: Path,
    command: str,
) -> list[str]:
    if recorded is None:
        return [f"{label}: no build record at {path} (run `{command}` first)"]
    if recorded.action_key != key:
        return [
            f"{label}: the record at {path} is out of date: its inputs changed since it was "
            f"built (run `{command}`)"
        ]
    return []


def _compare(label: str, old: Mapping[str, Blob], new: Mapping[str, Blob]) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before is None:
            lines.append(f"{label}: {name} rebuilt but not in the record")
        elif after is None:
            lines.append(f"{label}: {name} in the record but not rebuilt")
        elif before.digest != after.digest:
            lines.append(
                f"{label}: {name} is {before.digest} in the record, {after.digest} rebuilt"
            )
    return lines
