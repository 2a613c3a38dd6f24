"""`buildkit lock [NAME...]`: resolve frameworks into apko lockfiles (`nox -s lock`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from buildkit import ui
from buildkit.collector import keep_until_exit
from buildkit.lazy import lazy_module
from buildkit.progress import LineReporter, RichReporter
from buildkit.project.config import load_project
from buildkit.usecases.locking import LockOptions, LockResult, lock_project, raise_if_stale
from buildkit.usecases.staleness import config_reason, local_package_names, package_reasons

if TYPE_CHECKING:
    from buildkit.usecases import scanning
else:  # only for --outdated and for the fixes of changed packages
    scanning = lazy_module("buildkit.usecases.scanning")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lock",
        help="resolve frameworks into lockfiles/<framework>.lock.json",
        description="Resolve each framework's packages for each of its archs and write "
        "apko-compatible lockfiles (every frameworks/*.yaml, or the NAMEs given). Versions "
        "agree across archs unless --allow-arch-skew. Nothing is written if any framework "
        "fails. Put NAMEs before --update.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="framework names")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a lockfile is missing or no longer matches its config "
        "and repositories (locked versions are kept where still valid)",
    )
    parser.add_argument(
        "--update",
        nargs="+",
        default=[],
        metavar="PKG",
        help="move only these packages to their newest versions; keep every other pin",
    )
    parser.add_argument(
        "--outdated",
        action="store_true",
        help="write nothing; list locked packages that have newer versions in the repositories "
        "and the known ids those updates fix",
    )
    parser.add_argument(
        "--allow-arch-skew",
        action="store_true",
        help="resolve each arch on its own (versions may differ between archs, as apko lock)",
    )
    parser.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="accept unsigned indexes and packages, and unknown keys",
    )
    parser.add_argument(
        "--semantics",
        choices=("apko", "apk-tools"),
        default="apko",
        help="how install_if and provider choice are decided: as apko does (default; the "
        "lockfile is what apko itself would write) or as apk-tools does (install_if over "
        "the whole selection, triggered packages bring their dependencies)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="resolve again even when every input is unchanged (the resolution cache is "
        "keyed by config, keys, index digests, local packages and resolver version)",
    )
    parser.add_argument(
        "--skip-packages",
        action="store_true",
        help="do not build the local packages (packages/*.yaml) first; lock packages/<arch>/ "
        "as it is",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    if args.outdated:
        return _print_outdated(project, tuple(args.names))
    # Like build and publish: the names given, else buildkit.toml's [project].frameworks, else
    # every frameworks/*.yaml.
    names = tuple(args.names) or project.frameworks
    options = LockOptions(
        names=names,
        check=args.check,
        update=tuple(args.update),
        allow_arch_skew=args.allow_arch_skew,
        allow_untrusted=args.allow_untrusted,
        packages=not args.skip_packages,
        semantics=args.semantics,
        cache=not args.no_cache,
    )
    with RichReporter(ui.err) as reporter:
        results = lock_project(project, options, reporter=reporter)
    # The indexes stay referenced (the resolver caches them) until the process exits; keep
    # the collector from walking those millions of objects again at shutdown (seconds).
    keep_until_exit()
    changed = [r for r in results if r.changed]
    if args.check:
        for result in changed:
            _print_differences(result, project)
        raise_if_stale(results)
        ui.out.print(f"{len(results)} lockfile(s) up to date")
        return 0
    if changed:
        _print_changes(changed, project)
    for result in results:
        state = "written" if result.changed else "unchanged"
        ui.out.print(f"{_relative(result, project.root)}: {state}")
    return 0


def _relative(result: LockResult, root: Any) -> str:
    try:
        return str(result.path.relative_to(root))
    except ValueError:
        return str(result.path)


def _print_differences(result: LockResult, project: Any) -> None:
    ui.out.print(f"{result.path.name}: stale", markup=False)
    notes = list(result.differences)
    if result.old is not None and result.old.config is not None:
        fw = result.framework
        said = config_reason(
            fw.config_name,
            result.old.config.checksum,
            fw.checksum,
            project.root / fw.config_name,
            project.cache_dir,
        )
        if said is not None:
            notes = [n for n in notes if not n.startswith("config: checksum")] + [said]
    if result.old is not None:
        configs, sources = local_package_names(project.packages_dir, project.root)
        notes += package_reasons(result.old, result.new, local_configs=configs, source_dirs=sources)
    for note in notes:
        ui.out.print(f"  {note}", markup=False)


def _print_changes(results: Sequence[LockResult], project: Any = None) -> None:

    lookup = (
        scanning.FixLookup(project, reporter=LineReporter(ui.err)) if project is not None else None
    )
    rows: list[tuple[str, str, str, str, str]] = []
    for result in results:
        for change in result.changes:
            fixes: tuple[str, ...] = ()
            if lookup and change.old and change.new and change.kind == "upgraded":
                fixes = lookup.fixed(
                    result.new, change.arch, change.package, change.old, change.new
                )
            rows.append(
                (
                    result.framework.name,
                    change.package,
                    change.arch,
                    f"{change.old or '-'} -> {change.new or '-'} ({change.kind})",
                    ", ".join(fixes) or "-",
                )
            )
    if rows:
        ui.out.print(changes_table(rows))


def changes_table(rows: Sequence[Sequence[str]]) -> Table:
    """What a lock changed, one row per package and arch: fits 80 columns."""
    table = ui.table("lockfile changes", ("framework", "package", "arch", "change", "fixes"))
    for row in rows:
        table.add_row(*row)
    return table


def _print_outdated(project: Any, names: tuple[str, ...]) -> int:

    rows = scanning.outdated(project, names or project.frameworks, LineReporter(ui.err))
    if rows:
        ui.out.print(outdated_table(rows))
    ui.out.print(f"{len(rows)} locked package(s) have newer versions", markup=False)
    return 0


def outdated_table(rows: Sequence[scanning.Outdated]) -> Table:
    """``lock --outdated``: fits 80 columns (:func:`buildkit.ui.table`)."""
    table = ui.table(
        "outdated packages", ("framework", "arch", "package", "locked", "newest", "fixes")
    )
    for row in rows:
        table.add_row(
            row.framework,
            row.arch,
            row.package,
            row.locked,
            row.newest,
            ", ".join(row.fixes) or "-",
        )
    return table
