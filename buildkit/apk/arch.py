"""Architecture names: apk (x86_64, aarch64, ...) versus OCI (amd64, arm64, ...)."""

from __future__ import annotations

from buildkit.errors import ConfigError

# apk arch -> (OCI arch, OCI variant)
_APK_TO_OCI: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "x86": ("386", None),
    "armhf": ("arm", "v6"),
    "armv7": ("arm", "v7"),
    "ppc64le": ("ppc64le", None),
    "riscv64": ("riscv64", None),
    "s390x": ("s390x", None),
    "loongarch64": ("loong64", None),
}
_OCI_TO_APK: dict[str, str] = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "386": "x86",
    "arm/v6": "armhf",
    "arm/v7": "armv7",
    "loong64": "loongarch64",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
}

APK_ARCHES: tuple[str, ...] = tuple(_APK_TO_OCI)


def normalize_arch(name: str) -> str:
    """Return the apk arch for an apk or OCI name (``amd64`` -> ``x86_64``)."""
    value = name.strip()
    if value.startswith("linux/"):
        value = value.removeprefix("linux/")
    if value in _APK_TO_OCI:
        return value
    if value in _OCI_TO_APK:
        return _OCI_TO_APK[value]
    if value == "arm64/v8":
        return "aarch64"
    raise ConfigError(
        f"unknown architecture {name!r}",
        hint=f"use one of {', '.join(APK_ARCHES)} (or amd64, arm64)",
    )


def oci_arch(apk_arch: str) -> str:
    """``x86_64`` -> ``amd64``."""
    return _APK_TO_OCI[normalize_arch(apk_arch)][0]


def oci_variant(apk_arch: str) -> str | None:
    """The variant buildkit annotates (``v8`` for arm64, as common release scripts do)."""
    return _APK_TO_OCI[normalize_arch(apk_arch)][1]


def oci_platform(apk_arch: str) -> str:
    """``aarch64`` -> ``linux/arm64``: what ``docker run --platform`` takes."""
    return f"linux/{oci_arch(apk_arch)}"
