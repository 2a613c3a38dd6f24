"""The melange step: local packages into ``packages/<arch>/``, through the action cache.

Per arch, under one lock (melange's inputs include ``packages/<arch>/`` itself), packages are
built dependencies first. For each, when the action key has a verified record, nothing runs;
otherwise melange writes into a scratch folder, the .apk files go into the store, and the
record is written. Either way the .apk files are then copied into ``packages/<arch>/`` if
missing or different, and the repository's APKINDEX is regenerated and signed with the
project key whenever a file changed (melange's own index merge is not used: an index made
from the files present cannot disagree with them, even after a crash).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from buildkit.actions.plan import PackageAction, plan_package
from buildkit.actions.records import BuiltApk, PackageRecord
from buildkit.apk.index import INDEX_FILE, parse_index, record_from_package, write_index
from buildkit.apk.keys import Keyring, check_key_pair
from buildkit.apk.package import read_layout
from buildkit.errors import BuildkitError, SigningKeyError, ToolFailedError
from buildkit.events import Reporter, damage_warning
from buildkit.fsutil import atomic_write_bytes
from buildkit.melange import (
    PackageConfig,
    build_order,
    load_package_configs,
    local_dependencies,
    providers,
)
from buildkit.project.config import ProjectConfig
from buildkit.project.records import cached_record, save_record
from buildkit.store import hash_file
from buildkit.toolchain import MelangeBuild
from buildkit.usecases.build_context import BuildContext, Tools
from buildkit.usecases.melange_env import check_package_configs
from buildkit.usecases.repo_sync import remove, same_version_warning, stale_files

INDEX_DESCRIPTION = "buildkit local packages"
# Local packages' SOURCE_DATE_EPOCH when buildkit.toml sets none: 1980-01-01, the earliest
# date zip and many tools accept. A fixed value, so the same config gives the same bytes.
DEFAULT_PACKAGE_EPOCH = 315532800
# melange records the config's git commit and URL in the package; the checkout's HEAD must not
# leak into the bytes, so pass melange's own "unknown" values explicitly.
GIT_COMMIT = "unknown"
GIT_REPO_URL = "https://unknown/unknown/unknown"


def build_packages(
    context: BuildContext, archs: Sequence[str], names: Collection[str] | None = None
) -> list[PackageRecord]:
    """Build the project's local packages (``names`` and what they need; None = all)."""
    configs = load_package_configs(context.project.packages_dir, context.project.root)
    if not configs:
        return []
    order = build_order(configs, names)
    # Every mistake a config can show without melange, before melange runs for any of them.

    check_package_configs(
        context.project, order, archs, resolve_environments=context.environment_check
    )
    records: list[PackageRecord] = []
    for arch in archs:
        repo = context.project.packages_dir / arch

        def step(action: PackageAction, repo: Path = repo) -> PackageRecord:
            record = _run(context, action)
            if _install(context, record, repo) or not (repo / INDEX_FILE).is_file():
                write_repository_index(context, repo)
            return record

        with context.store.lock(f"packages-{arch}"):
            done = walk_packages(context, order, providers(configs), arch, step)
            _prune(context, repo, done, configs)
            _refresh_index(context, repo)
            records += done
    return records


def _prune(
    context: BuildContext,
    repo: Path,
    records: Sequence[PackageRecord],
    configs: Sequence[PackageConfig],
) -> None:
    """Remove superseded and orphaned .apk files (see repo_sync) and their index entries."""
    if not repo.is_dir():
        return
    stale = stale_files(
        repo,
        current={apk.filename for record in records for apk in record.apks},
        built={record.name for record in records},
        configured={config.name for config in configs},
    )
    for line in remove(stale):
        context.reporter.info(line)


def _refresh_index(context: BuildContext, repo: Path) -> None:
    """Leave ``repo``'s index byte for byte as buildkit writes it for the .apk files there
    (deterministic: sorted records, gzip without a time, RSA PKCS#1 v1.5). Any other bytes
    are written again, with a warning unless the listing merely changed. Checking meaning
    alone would miss damage that leaves it intact (a flipped bit in a gzip header or in the
    padding after a deflate stream's last block). Without the private key (every package
    restored from the action cache) nothing can be signed: the index is judged by meaning,
    and must be written again only when it is stale (which then asks for the key)."""
    if not repo.is_dir():
        return
    index = repo / INDEX_FILE
    expected = repository_index(context, repo) if context.project.signing_key.is_file() else None
    if expected is not None:
        with contextlib.suppress(OSError):  # missing or unreadable: index_state says which
            if index.read_bytes() == expected:
                return
    stale, damage = index_state(repo, signing_public_key_path(context.project))
    if expected is not None and not stale and damage is None:
        damage = "its bytes are not the index of its packages, though it lists them"
    if damage is not None:
        context.reporter.info(damage_warning(index, "the local index", damage, "writing it again"))
    if expected is not None:
        atomic_write_bytes(index, expected)
    elif stale:
        write_repository_index(context, repo)  # one line: the signing key is missing


def index_state(repo: Path, public_key: Path | None) -> tuple[bool, str | None]:
    """Whether ``repo``'s index must be written again, and why when it is damaged: it must
    verify with the project's public key (when there is one) and list exactly the .apk files
    present, each by its identity and size. A missing index or a changed listing is routine
    (no reason given); anything else is damage."""
    index = repo / INDEX_FILE
    if not repo.is_dir():
        return False, None
    apks = sorted(repo.glob("*.apk"))
    if not index.is_file():
        return bool(apks), None
    try:
        keyring = Keyring.from_files([public_key]) if public_key is not None else None
        listed = parse_index(
            index.read_bytes(), where=str(index), keyring=keyring, allow_untrusted=keyring is None
        )
    except BuildkitError as err:  # any damage means: write it again
        return True, err.message
    except OSError as exc:
        return True, exc.strerror or str(exc)
    entries = {record.filename: record for record in listed.records}
    if set(entries) != {path.name for path in apks}:
        return True, None
    for path in apks:
        try:
            found = record_from_package(path.read_bytes(), where=str(path))
        except (BuildkitError, OSError):
            return True, None  # an unreadable .apk: the index is rewritten (and fails there)
        entry = entries[path.name]
        if (entry.checksum, entry.size) != (found.checksum, found.size):
            return True, f"its entry for {path.name} does not match the file"
    return False, None


def walk_packages(
    context: BuildContext,
    order: Sequence[PackageConfig],
    by_name: Mapping[str, PackageConfig],
    arch: str,
    step: Callable[[PackageAction], PackageRecord],
) -> list[PackageRecord]:
    """Plan and run each package for ``arch`` in order; a package's key includes the
    identities its local dependencies got from ``step``."""
    built: dict[str, PackageRecord] = {}
    for config in order:
        if not config.builds_for(arch):
            continue
        deps = {
            dep.name: built[dep.name].identity
            for dep in local_dependencies(config, by_name)
            if dep.name in built
        }
        built[config.name] = step(_plan(context, config, arch, deps))
    return list(built.values())


def _plan(
    context: BuildContext, config: PackageConfig, arch: str, deps: Mapping[str, str]
) -> PackageAction:
    project = context.project
    return plan_package(
        config,
        config_bytes=config.path.read_bytes(),
        source_tree=tree_digest(source_dir(context, config)),
        arch=arch,
        melange_image=context.melange_ref,
        source_date_epoch=(
            DEFAULT_PACKAGE_EPOCH
            if project.source_date_epoch is None
            else project.source_date_epoch
        ),
        signing_key=context.signing_fingerprint,
        local_deps=deps,
    )


def _run(context: BuildContext, action: PackageAction) -> PackageRecord:
    """Build ``action`` unless its key has verified outputs; write its current record."""
    store = context.store
    with context.action(action.label) as outcome:
        record = cached_record(store, action.key, PackageRecord, warn=context.reporter.info)
        outcome.cached = record is not None
        if record is None:
            record = run_melange(context, action)
        current = package_record_path(context, action.config.name, action.arch)
        save_record(store, current, record)
    return record


def package_record_path(context: BuildContext, name: str, arch: str) -> Path:
    return context.store.record_path("packages", name, f"{arch}.json")


def run_melange(context: BuildContext, action: PackageAction) -> PackageRecord:
    """Run melange for ``action`` and put its .apk files into the store (no records written)."""

    project = context.project
    config = action.config
    key_pub = signing_public_key(context)
    check_key_pair(project.signing_key, key_pub)
    log = context.log_path(action.label)
    label = f"{config.name}-{action.arch}"
    # melange's apk cache (go-apk's layout, as apko's) is never verified by melange: a fresh
    # one per run, so a damaged or foreign file cannot enter a package's build environment.
    with (
        context.store.scratch_dir(f"melange-{label}") as out,
        context.store.scratch_dir(f"apk-cache-{label}") as apk_cache,
    ):
        job = MelangeBuild(
            config=config.path,
            arch=action.arch,
            signing_key=project.signing_key,
            out_dir=out,
            keyring_append=(key_pub,),
            repository_append=(project.packages_dir,) if action.inputs.local_deps else (),
            source_dir=source_dir(context, config),
            cache_dir=project.cache_dir / "melange-cache",
            apk_cache_dir=apk_cache,
            git_commit=GIT_COMMIT,
            git_repo_url=GIT_REPO_URL,
            generate_index=False,
        )
        with context.timed_tool():
            context.tools.melange_build(
                job, log=log, source_date_epoch=action.source_date_epoch, network="host"
            )
        apks = sorted((out / action.arch).glob("*.apk"))
        if not apks:
            raise ToolFailedError(
                f"{action.label}: melange succeeded but wrote no .apk for {action.arch}",
                where=str(log),
                log=str(log),
            )
        built = tuple(_store_apk(context, path) for path in apks)
    return PackageRecord(
        name=config.name,
        arch=action.arch,
        action_key=action.key,
        inputs=action.inputs,
        apks=built,
    )


def _store_apk(context: BuildContext, path: Path) -> BuiltApk:

    layout = read_layout(path.read_bytes(), where=str(path))
    blob = context.store.put_file(path, move=True)
    return BuiltApk(
        filename=path.name,
        name=layout.pkginfo.name,
        version=layout.pkginfo.version,
        identity=layout.identity,
        blob=blob,
    )


def _install(context: BuildContext, record: PackageRecord, repo: Path) -> bool:
    """Copy the record's .apk files into the local repository; True if any file changed."""
    changed = False
    for apk in record.apks:
        target = repo / apk.filename
        if target.is_file():
            if hash_file(target) == apk.blob:
                continue
            config = f"{context.project.packages_dir.name}/{record.name}.yaml"
            context.reporter.info(
                restored_warning(target, apk.blob.digest)
                if record.cached
                else same_version_warning(config, apk.filename)
            )
        context.store.copy_out(apk.blob, target, verify=False)  # verified by lookup or put
        changed = True
    return changed


def restored_warning(target: Path, digest: str) -> str:
    """An .apk in the local repository that is not the one its (cached) build record names:
    damaged, or left by a build of another version of its config."""
    return f"warning: {target}: differs from its build record ({digest}); restored from the store"


def write_repository_index(context: BuildContext, repo: Path) -> None:
    """A signed APKINDEX.tar.gz listing every .apk in ``repo`` (sorted by file name), signed
    only after the key pair was checked to match."""

    atomic_write_bytes(repo / INDEX_FILE, repository_index(context, repo))


def repository_index(context: BuildContext, repo: Path) -> bytes:
    """The bytes of ``repo``'s signed index as buildkit writes it: the same .apk files and key
    give the same bytes."""
    key = check_key_pair(context.project.signing_key, signing_public_key(context))
    records = [
        record_from_package(path.read_bytes(), where=str(path))
        for path in sorted(repo.glob("*.apk"))
    ]
    return write_index(records, description=INDEX_DESCRIPTION, key=key)


def signing_public_key(context: BuildContext) -> Path:
    """The project key pair must exist to build packages: melange signs with the private half
    and trusts the public half."""
    private = context.project.signing_key
    public = private.with_name(private.name + ".pub")
    for path in (private, public):
        if not path.is_file():
            raise SigningKeyError(
                "the project signing key is missing",
                where=str(path),
                hint="create it with `nox -s keygen` (scripts/setup does it too)",
            )
    return public


def signing_public_key_path(project: ProjectConfig) -> Path | None:
    """``keys/<name>.rsa.pub`` when it exists (the local index is checked against it)."""
    public = project.signing_key.with_name(project.signing_key.name + ".pub")
    return public if public.is_file() else None


def source_dir(context: BuildContext, config: PackageConfig) -> Path | None:
    """``packages/<name>/`` when it exists: the files a config's pipeline may use. Otherwise
    melange's default (the config's folder) is kept."""
    folder = context.project.packages_dir / config.name
    return folder if folder.is_dir() else None


def tree_digest(folder: Path | None) -> str | None:
    """SHA-256 over the relative paths, modes and contents of every file under ``folder``."""
    if folder is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        content = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
        mode = path.lstat().st_mode & 0o7777
        digest.update(f"{rel}\0{mode:o}\0{len(content)}\0".encode() + content)
    return "sha256:" + digest.hexdigest()


def build_local_packages(
    project: ProjectConfig,
    archs: Sequence[str],
    names: Collection[str] | None = None,
    *,
    reporter: Reporter | None = None,
    tools: Callable[[], Tools] | None = None,
) -> list[PackageRecord]:
    """Build (or take from the action cache) the project's local packages for ``archs`` into
    ``packages/<arch>/`` with a signed APKINDEX; ``names`` limits it to those packages and the
    local packages they need. ``lock`` calls this first: local packages must exist to be
    locked. Returns one record per package and arch."""
    with BuildContext(project, reporter=reporter, tools=tools) as context:
        return build_packages(context, archs, names)
