"""Action inputs (pure): what an apko image build and a melange package build read.

Each is a frozen record whose :meth:`to_dict` is the canonical key document: the action key is
:func:`buildkit.digest.action_key` of it, and build records store it as ``inputs``. The
documents are exactly the ones buildkit has always keyed by (same keys, same values), so no
action key changes; ``from_dict`` reads one back from a record, naming the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buildkit.digest import action_key
from buildkit.fields import Fields

# Bump when buildkit changes how it runs a tool in a way that changes outputs: every action key
# changes with it, so nothing stale is taken from the cache.
RECIPE = 1
NEWEST_PACKAGE = "newest-locked-package"  # the SOURCE_DATE_EPOCH input when none is configured


@dataclass(frozen=True, kw_only=True)
class ConfigInput:
    """An apko config: its file name and apko's checksum of it and its includes."""

    name: str
    checksum: str


@dataclass(frozen=True, kw_only=True)
class ImageInputs:
    """The inputs of one apko build (a framework for one arch)."""

    arch: str
    config: ConfigInput
    lock: str  # lock_digest: SHA-256 of that arch's lock entries
    apko_image: str  # the pinned run reference
    source_date_epoch: int | None  # configured; None = the newest locked package
    tag: str
    signing_key: str  # fingerprint of the signing key, or "none"
    recipe: int = RECIPE

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "tool": "apko",
            "arch": self.arch,
            "config": {"name": self.config.name, "checksum": self.config.checksum},
            "lock": self.lock,
            "apko_image": self.apko_image,
            "source_date_epoch": NEWEST_PACKAGE
            if self.source_date_epoch is None
            else self.source_date_epoch,
            "tag": self.tag,
            "signing_key": self.signing_key,
        }

    @property
    def key(self) -> str:
        return action_key(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], fields: Fields) -> ImageInputs:
        config = fields.mapping(data, "config")
        epoch = data.get("source_date_epoch")
        return cls(
            recipe=fields.integer(data, "recipe"),
            arch=fields.string(data, "arch"),
            config=ConfigInput(
                name=fields.at("config").string(config, "name"),
                checksum=fields.at("config").string(config, "checksum"),
            ),
            lock=fields.string(data, "lock"),
            apko_image=fields.string(data, "apko_image"),
            source_date_epoch=None
            if epoch == NEWEST_PACKAGE
            else fields.integer(data, "source_date_epoch"),
            tag=fields.string(data, "tag"),
            signing_key=fields.string(data, "signing_key"),
        )


@dataclass(frozen=True, kw_only=True)
class PackageConfigInput:
    """A melange config: its file name and the SHA-256 of its bytes."""

    name: str
    digest: str


@dataclass(frozen=True, kw_only=True)
class PackageInputs:
    """The inputs of one melange build (a package config for one arch)."""

    arch: str
    config: PackageConfigInput
    source_tree: str | None  # tree_digest of packages/<name>/, or None
    melange_image: str
    source_date_epoch: int
    signing_key: str
    repositories: tuple[str, ...]  # the config's environment
    keyring: tuple[str, ...]
    local_deps: Mapping[str, str]  # name -> identity of each local package it needs, as built
    recipe: int = RECIPE

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "tool": "melange",
            "arch": self.arch,
            "config": {"name": self.config.name, "digest": self.config.digest},
            "source_tree": self.source_tree,
            "melange_image": self.melange_image,
            "source_date_epoch": self.source_date_epoch,
            "signing_key": self.signing_key,
            "environment": {
                "repositories": list(self.repositories),
                "keyring": list(self.keyring),
            },
            "local_deps": dict(sorted(self.local_deps.items())),
        }

    @property
    def key(self) -> str:
        return action_key(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], fields: Fields) -> PackageInputs:
        config = fields.mapping(data, "config")
        environment = fields.mapping(data, "environment")
        source_tree = data.get("source_tree")
        return cls(
            recipe=fields.integer(data, "recipe"),
            arch=fields.string(data, "arch"),
            config=PackageConfigInput(
                name=fields.at("config").string(config, "name"),
                digest=fields.at("config").string(config, "digest"),
            ),
            source_tree=None if source_tree is None else fields.string(data, "source_tree"),
            melange_image=fields.string(data, "melange_image"),
            source_date_epoch=fields.integer(data, "source_date_epoch"),
            signing_key=fields.string(data, "signing_key"),
            repositories=fields.at("environment").strings(environment, "repositories"),
            keyring=fields.at("environment").strings(environment, "keyring"),
            local_deps=fields.string_map(data, "local_deps"),
        )
