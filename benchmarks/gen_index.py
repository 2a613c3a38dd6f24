"""Generate a Wolfi-scale signed APKINDEX.tar.gz for benchmarks.

    python benchmarks/gen_index.py [--records 200000] [--seed 1] [--out DIR]

Writes DIR/APKINDEX.tar.gz signed with DIR/bench.rsa (created on first use; the public half
DIR/bench.rsa.pub is the keyring). The records depend only on --records and --seed; the
bytes also depend on the key. DIR defaults to a folder under the system temp dir, never the
repository (private keys must not land there).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import tempfile
import time
from pathlib import Path

from buildkit.apk.index import IndexRecord, write_index
from buildkit.apk.keys import SigningKey, generate_keypair

DEFAULT_OUT = Path(tempfile.gettempdir()) / "buildkit-bench"
KEY_NAME = "bench.rsa"

_WORDS = (
    *("py", "lib", "gtk", "xml", "ssl", "zstd", "go", "rust", "node", "perl", "ruby", "qt"),
    *("font", "x11", "dev", "doc", "pam", "ncurses", "readline", "gmp", "mpfr", "icu"),
    *("unicode", "net", "http", "curl", "git", "make", "cmake", "llvm", "gcc", "bin", "utils"),
    *("core", "tool", "kit", "data", "openssl", "glibc", "busybox", "java", "jdk", "jre"),
    *("maven", "gradle", "postgres", "redis", "nginx", "envoy"),
)
_LICENSES = (
    *("MIT", "Apache-2.0", "GPL-2.0-only", "GPL-3.0-or-later", "BSD-3-Clause"),
    *("LGPL-2.1-or-later", "MPL-2.0 AND MIT", "ISC"),
)


def _version(rng: random.Random) -> str:
    return f"{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 20)}-r{rng.randint(0, 9)}"


def _record(rng: random.Random, number: int, arch: str) -> IndexRecord:
    origin = "-".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) + f"-{number // 8}"
    name = origin if number % 8 == 0 else f"{origin}-{rng.choice(('dev', 'doc', 'libs'))}"
    version = _version(rng)
    control = hashlib.sha1(f"{name}-{version}-{number}".encode()).digest()
    depends = [
        "so:libc.so.6",
        *(f"so:lib{rng.choice(_WORDS)}.so.{rng.randint(0, 9)}" for _ in range(rng.randint(0, 6))),
    ]
    depends += [f"cmd:{rng.choice(_WORDS)}" for _ in range(rng.randint(0, 1))]
    depends += [f"{rng.choice(_WORDS)}>={_version(rng)}" for _ in range(rng.randint(0, 1))]
    provides = [f"so:lib{name}.so.{rng.randint(0, 9)}={rng.randint(0, 9)}"]
    provides += [f"cmd:{rng.choice(_WORDS)}{number}={version}" for _ in range(rng.randint(0, 3))]
    return IndexRecord(
        checksum="Q1" + base64.b64encode(control).decode(),
        name=name,
        version=version,
        arch=arch,
        size=rng.randint(1_000, 90_000_000),
        installed_size=rng.randint(4_096, 300_000_000),
        description=" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 10))),
        url=f"https://example.org/{origin}",
        license=rng.choice(_LICENSES),
        origin=origin,
        maintainer="Wolfi <wolfi-dev@example.org>",
        build_time=rng.randint(1_600_000_000, 1_750_000_000),
        commit=hashlib.sha1(str(number).encode()).hexdigest(),
        provider_priority=10 if rng.random() < 0.05 else None,
        depends=tuple(depends),
        provides=tuple(provides),
    )


def generate_records(count: int, seed: int, arch: str = "x86_64") -> list[IndexRecord]:
    rng = random.Random(seed)
    return [_record(rng, number, arch) for number in range(count)]


def signing_key(out: Path) -> SigningKey:
    private = out / KEY_NAME
    if not private.exists():
        generate_keypair(private)
    return SigningKey.load(private)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records = generate_records(args.records, args.seed)
    data = write_index(records, description="benchmark", key=signing_key(args.out))
    target = args.out / "APKINDEX.tar.gz"
    target.write_bytes(data)
    elapsed = time.perf_counter() - started
    print(f"{target}: {len(records)} records, {len(data) / 1e6:.1f} MB in {elapsed:.1f}s")
    print(f"keyring: {args.out / (KEY_NAME + '.pub')}")


if __name__ == "__main__":
    main()
