"""Parity harness: buildkit's resolution against the real `apko show-packages`.

    python benchmarks/parity_apko.py [--sets 200] [--seed 1] [--apko PATH] [--jobs 2]

On real distribution indexes (tests/fixtures: Alpine 3.17 main aarch64, ~5k packages, and the
Wolfi x86_64 index), draws random package sets (plain names, pinned ``name=version``, fuzzy
``name~version``, provided names such as ``cmd:``/``so:``, ``-doc`` packages that install_if
rules react to) and asks both tools which packages get installed, in which order. The Alpine
index is re-signed with a throw-away key in a temp dir (its real signing key is not public);
the Wolfi index carries Wolfi's own signature. Fixture files are never written.

A set both tools refuse (nothing provides it, conflicts) counts as agreeing when both refuse.
The report lists every set that differs, with both answers. apko is found at
${BUILDKIT_CACHE:-~/.cache/buildkit}/tools/apko-*/apko unless --apko is given.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from buildkit.apk.index import ApkIndex, IndexRecord, _signature_member, _split, parse_index
from buildkit.apk.keys import Keyring, SigningKey, generate_keypair
from buildkit.errors import BuildkitError
from buildkit.project.config import default_cache_dir
from buildkit.resolve import RepoSource, resolve

_RETRIES = 8
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


@dataclass(frozen=True, kw_only=True)
class Distro:
    name: str
    arch: str
    index: Path
    key: Path | None  # None: re-sign with a generated key


DISTROS = (
    Distro(
        name="alpine-3.17",
        arch="aarch64",
        index=FIXTURES / "alpine-3.17-main-aarch64" / "APKINDEX.tar.gz",
        key=None,
    ),
    Distro(
        name="wolfi",
        arch="x86_64",
        index=FIXTURES / "wolfi" / "x86_64" / "APKINDEX.tar.gz",
        key=FIXTURES / "wolfi" / "wolfi-signing.rsa.pub",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    packages: tuple[str, ...] | None  # "name version" in install order; None: refused
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Case:
    distro: str
    requests: tuple[str, ...]
    apko: Outcome
    buildkit: Outcome
    apko_answers: int = 1  # distinct answers apko gave when asked again (>1: it varies)

    @property
    def same_packages(self) -> bool:
        a, b = self.apko.packages, self.buildkit.packages
        return (a is None and b is None) or (
            a is not None and b is not None and sorted(a) == sorted(b)
        )

    @property
    def same_order(self) -> bool:
        return self.apko.packages == self.buildkit.packages

    @property
    def apko_varies(self) -> bool:
        return self.apko_answers > 1


class Repo:
    """A distro's index in a temp repository directory, signed by a key apko trusts."""

    def __init__(self, distro: Distro, work: Path) -> None:
        self.distro = distro
        self.dir = work / distro.name / "repo"
        folder = self.dir / distro.arch
        folder.mkdir(parents=True)
        data = distro.index.read_bytes()
        if distro.key is None:
            private, public = generate_keypair(work / distro.name / "parity.rsa", bits=2048)
            key = SigningKey.load(private)
            _signatures, start = _split(data, str(distro.index))
            data = _signature_member(key, data[start:]) + data[start:]
            self.key = public
        else:
            self.key = distro.key
        (folder / "APKINDEX.tar.gz").write_bytes(data)
        keyring = Keyring.from_pems({self.key.name: self.key.read_bytes()})
        self.index: ApkIndex = parse_index(data, where=str(folder), keyring=keyring)

    def buildkit(self, requests: Sequence[str]) -> Outcome:
        source = RepoSource(name=str(self.dir), arch=self.distro.arch, tag=None, index=self.index)
        try:
            chosen = resolve(requests, [source], arch=self.distro.arch)
        except BuildkitError as err:
            return Outcome(packages=None, error=err.message)
        return Outcome(packages=tuple(f"{r.record.name} {r.record.version}" for r in chosen))

    def apko(self, apko: Path, requests: Sequence[str], work: Path) -> Outcome:
        config = work / "apko.yaml"
        lines = [
            "contents:",
            "  keyring:",
            f"    - {self.key}",
            "  repositories:",
            f"    - {self.dir}",
            "  packages:",
            *(f"    - {_yaml_string(text)}" for text in requests),
            "archs:",
            f"  - {self.distro.arch}",
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run = subprocess.run(
            [
                str(apko),
                "show-packages",
                str(config),
                "--arch",
                self.distro.arch,
                "--offline",
                "--cache-dir",
                str(work / "cache"),
                "--format",
                "{{ .Name }} {{ .Version }}",
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=work,
        )
        if run.returncode != 0:
            return Outcome(packages=None, error=(run.stderr.strip().splitlines() or [""])[-1])
        found = [line for line in run.stdout.splitlines() if re.match(r"^\S+ \S+$", line)]
        return Outcome(packages=tuple(found))


def _yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def random_sets(index: ApkIndex, count: int, seed: int) -> Iterator[tuple[str, ...]]:
    """Random requests over ``index``: mostly plain names, some pinned, fuzzy, provided
    names and -doc packages (install_if rules in Alpine react to docs and to pairs)."""
    rng = random.Random(seed)
    records = list(index.records)
    names = sorted({r.name for r in records})
    docs = [n for n in names if n.endswith("-doc")]
    triggered = [r for r in records if r.install_if]
    provides = sorted(
        {p.partition("=")[0] for r in records for p in r.provides if p.startswith(("cmd:", "so:"))}
    )
    for _ in range(count):
        picks: list[str] = []
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.45:
                picks.append(rng.choice(names))
            elif roll < 0.55:
                picks.append(rng.choice(docs) if docs else rng.choice(names))
            elif roll < 0.70 and triggered:
                # a trigger of some install_if package, so the rule has a chance to fire
                record = rng.choice(triggered)
                picks.append(re.split(r"[<>=~]", record.install_if[0])[0])
            elif roll < 0.80:
                picks.append(rng.choice(provides) if provides else rng.choice(names))
            elif roll < 0.90:
                record: IndexRecord = rng.choice(records)
                picks.append(f"{record.name}={record.version}")
            else:
                record = rng.choice(records)
                picks.append(f"{record.name}~{record.version.split('.')[0]}")
        yield tuple(dict.fromkeys(picks))


def find_apko(given: str | None) -> Path:
    if given:
        return Path(given)
    found = sorted((default_cache_dir() / "tools").glob("apko-*/apko"))
    if not found:
        raise SystemExit("apko not found: run scripts/setup or pass --apko")
    return found[-1]


def run_parity(apko: Path, sets: int, seed: int, jobs: int = 2) -> list[Case]:
    """``sets`` random sets split over the distros; one Case per set."""
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        work = Path(tmp)
        for position, distro in enumerate(DISTROS):
            repo = Repo(distro, work)
            share = sets // len(DISTROS) + (1 if position < sets % len(DISTROS) else 0)
            requests = list(random_sets(repo.index, share, seed + position))

            def one(item: tuple[int, tuple[str, ...]], repo: Repo = repo) -> Case:
                number, request = item
                folder = work / repo.distro.name / f"set{number}"
                folder.mkdir()
                ours = repo.buildkit(request)
                answers = [repo.apko(apko, request, folder)]
                # apko's install_if order follows Go map iteration when several packages of a
                # request trigger rules: ask again before calling a difference a difference.
                while ours != answers[0] and len(answers) < _RETRIES:
                    again = repo.apko(apko, request, folder)
                    if again == ours:
                        answers.insert(0, again)
                        break
                    answers.append(again)
                distinct = len({outcome.packages for outcome in answers})
                return Case(
                    distro=repo.distro.name,
                    requests=request,
                    apko=answers[0],
                    buildkit=ours,
                    apko_answers=distinct,
                )

            # apko runs in subprocesses; buildkit's resolution is cheap next to them.
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                cases.extend(pool.map(one, enumerate(requests)))
    return cases


def report(cases: Sequence[Case]) -> str:
    lines = []
    for distro in dict.fromkeys(c.distro for c in cases):
        mine = [c for c in cases if c.distro == distro]
        refused = sum(1 for c in mine if c.apko.packages is None and c.buildkit.packages is None)
        varies = sum(1 for c in mine if c.apko_varies)
        lines.append(
            f"{distro}: {len(mine)} sets, {sum(c.same_packages for c in mine)} same packages, "
            f"{sum(c.same_order for c in mine)} same packages and order "
            f"({refused} refused by both; apko's own answer varied between runs on {varies})"
        )
    total = len(cases)
    lines.append(
        f"total: {total} sets, {sum(c.same_packages for c in cases)} same packages, "
        f"{sum(c.same_order for c in cases)} same packages and order"
    )
    for case in cases:
        if case.apko_varies:
            verdict = "matches one of them" if case.same_order else "matches none"
            lines.append(
                f"VARIES {case.distro} {' '.join(case.requests)}: apko gave"
                f" {case.apko_answers} different answers; buildkit {verdict}"
            )
        if not case.same_order:
            lines.append(f"DIFF {case.distro} {' '.join(case.requests)}")
            lines.append(f"  apko:     {_show(case.apko)}")
            lines.append(f"  buildkit: {_show(case.buildkit)}")
    return "\n".join(lines)


def _show(outcome: Outcome) -> str:
    if outcome.packages is None:
        return f"refused: {outcome.error}"
    return ", ".join(outcome.packages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--apko")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    cases = run_parity(find_apko(args.apko), args.sets, args.seed, args.jobs)
    print(report(cases))
    return 0 if all(c.same_order for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
