"""Verify what is published (``buildkit verify --published``): the registry against the records.

For each framework, from ``dist/<framework>/publish.json`` and the build records, and for every
tag the publish recorded:

1. the registry answers (the same 2 s ping as publish);
2. the tag names the recorded list digest, and the list read back (``docker manifest inspect``)
   has exactly the recorded platforms, each with the build record's manifest and config digest;
3. ``cosign verify`` of the list and of each arch, and ``cosign verify-attestation`` of each
   arch's SPDX SBOM and SLSA provenance, with the configured key (or keyless identity).

The first difference stops it with one line: what differs, where, and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildkit.actions.records import ImageRecord
from buildkit.apk.arch import oci_arch, oci_variant
from buildkit.errors import PublishError, ToolFailedError
from buildkit.hints import publish_command, run
from buildkit.project.config import ProjectConfig
from buildkit.project.layout import framework_paths, load_project_framework
from buildkit.project.records import read_image_record
from buildkit.registry import parse_list, parse_verbose_list, platform_text, reason
from buildkit.store import Store
from buildkit.toolchain import ContainerSpec, Engine, manifest_inspect_argv
from buildkit.toolchain.supply import PROVENANCE_TYPE, SBOM_TYPE, cosign_verify_spec
from buildkit.usecases.publishing import OS, Tools, build_hint, ping


def publish_hint(framework: str) -> str:
    return f"{run(publish_command(framework))} again (or find out who changed the registry)"


@dataclass(frozen=True, kw_only=True)
class Checked:
    framework: str
    references: tuple[str, ...]
    signatures: int
    attestations: int


def _record(store: Store, framework: str) -> dict[str, Any]:
    path = store.record_path(framework, "publish.json")
    data = store.read_record(path)
    if data is None:
        raise PublishError(
            f"{framework} was never published from this dist/",
            where=str(path),
            hint=f"{run(publish_command(framework))} first",
        )
    if data.get("schema") != 2 or not isinstance(data.get("list"), dict):
        raise PublishError(
            "the publish record is from an older buildkit",
            where=str(path),
            hint=f"{run(publish_command(framework))} again",
        )
    return data


class PublishedVerifier:
    def __init__(self, *, engine: Engine, docker: str, store: Store, tools: Tools) -> None:
        self.engine = engine
        self.docker = docker
        self.store = store
        self.tools = tools

    def verify(self, project: ProjectConfig, names: Sequence[str]) -> list[Checked]:
        chosen = tuple(names) or project.frameworks
        results = []
        for path in framework_paths(project, chosen):
            framework = load_project_framework(project, path)
            results.append(self._framework(project, framework.name))
        return results

    def _framework(self, project: ProjectConfig, framework: str) -> Checked:
        record = _record(self.store, framework)
        listed = record["list"]
        repo, digest = str(listed["repository"]), str(listed["digest"])
        registry = repo.split("/", 1)[0]
        insecure = project.registry_is_insecure(registry)
        ping(registry, insecure=insecure)
        builds: dict[str, ImageRecord] = {}
        for arch in record.get("images", {}):
            path = self.store.record_path(framework, f"{arch}.json")
            build = read_image_record(self.store, path)
            if build is None:
                raise PublishError(
                    f"no build record for {framework} on {arch}",
                    where=str(path),
                    hint=build_hint(framework, arch),
                )
            builds[arch] = build
        expected = {
            platform_text(OS, oci_arch(arch), oci_variant(arch)): build
            for arch, build in builds.items()
        }
        by_digest = f"{repo}@{digest}"
        entries = parse_verbose_list(
            self._inspect(by_digest, insecure, framework=framework, verbose=True), where=by_digest
        )
        found = {entry.platform: entry for entry in entries}
        if set(found) != set(expected):
            raise PublishError(
                f"the published list has platforms {', '.join(sorted(found)) or 'none'}, the "
                f"records say {', '.join(sorted(expected))}",
                where=by_digest,
                hint=publish_hint(framework),
            )
        for platform, build in sorted(expected.items()):
            entry = found[platform]
            if entry.manifest_digest != build.image.manifest_digest:
                raise PublishError(
                    f"{platform} in the registry is {entry.manifest_digest}, the build record "
                    f"says {build.image.manifest_digest}",
                    where=by_digest,
                    hint=publish_hint(framework),
                )
            if entry.config_digest != build.image.config_digest:
                raise PublishError(
                    f"{platform} in the registry has config {entry.config_digest}, the build "
                    f"record says {build.image.config_digest}",
                    where=by_digest,
                    hint=publish_hint(framework),
                )
        pairs = tuple(sorted((p, b.image.manifest_digest) for p, b in expected.items()))
        references = tuple(str(r) for r in listed.get("references", ()))
        for reference in references:
            served = parse_list(
                self._inspect(reference, insecure, framework=framework), where=reference
            )
            if served != pairs:
                got = ", ".join(f"{p} {d}" for p, d in served) or "nothing"
                raise PublishError(
                    f"the tag serves {got}, not the recorded list {digest}",
                    where=reference,
                    hint=publish_hint(framework),
                )
        signatures = attestations = 0
        signer, cosign = self.tools.signer, self.tools.cosign
        if signer is not None and cosign is not None:
            subjects = [by_digest, *(f"{repo}@{b.image.manifest_digest}" for b in builds.values())]
            for subject in subjects:
                self._cosign(
                    cosign_verify_spec(
                        cosign,
                        signer=signer,
                        reference=subject,
                        insecure=insecure,
                        project=self.tools.project,
                        docker_config=self.tools.docker_config,
                    ),
                    f"the signature of {subject} does not verify",
                    subject,
                )
                signatures += 1
            for build in builds.values():
                subject = f"{repo}@{build.image.manifest_digest}"
                for kind in (SBOM_TYPE, PROVENANCE_TYPE):
                    self._cosign(
                        cosign_verify_spec(
                            cosign,
                            signer=signer,
                            reference=subject,
                            insecure=insecure,
                            project=self.tools.project,
                            docker_config=self.tools.docker_config,
                            predicate_type=kind,
                        ),
                        f"the {kind} attestation of {subject} does not verify",
                        subject,
                    )
                    attestations += 1
        return Checked(
            framework=framework,
            references=references,
            signatures=signatures,
            attestations=attestations,
        )

    def _inspect(
        self, reference: str, insecure: bool, *, framework: str, verbose: bool = False
    ) -> str:
        argv = manifest_inspect_argv(self.docker, reference, insecure=insecure, verbose=verbose)
        try:
            return self.engine.check(argv, what=f"reading {reference}").stdout
        except ToolFailedError as exc:
            raise PublishError(
                f"cannot read {reference} from the registry: {reason(exc.tail or exc.message)}",
                where=reference,
                hint=publish_hint(framework),
            ) from None

    def _cosign(self, spec: ContainerSpec, what: str, where: str) -> None:
        self.engine.ensure_image(spec.image)
        try:
            self.engine.capture(spec, timeout=self.engine.tool_timeout)
        except ToolFailedError as exc:
            raise PublishError(
                f"{what}: {_cosign_reason(exc.tail or exc.message)}",
                where=where,
                hint=_hint(self.tools),
            ) from None


def _cosign_reason(text: str) -> str:
    line = reason(text)
    return line.removeprefix("error during command execution: ")


def _hint(tools: Tools) -> str:
    signer = tools.signer
    if signer is not None and signer.mode == "key" and signer.public_key is not None:
        key = Path(signer.public_key)
        shown = key.relative_to(tools.project) if key.is_relative_to(tools.project) else key
        return f"it was not signed with {shown}'s private key, or was changed since; publish again"
    return "it was not signed by the configured identity, or was changed since; publish again"
