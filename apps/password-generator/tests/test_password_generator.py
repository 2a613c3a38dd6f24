"""The password generator's own tests.

Written with unittest, like the app with the standard library only, so that the package build
(packages/password-generator.yaml) runs them with nothing but Python installed:
``python3 -m unittest discover -s tests`` from this folder. buildkit's test suite runs them
too (tests/unit/test_frameworks_field.py). Hence unittest's assertions rather than pytest's,
and seeded ``random.Random`` only where a test needs the same password twice.
"""

# ruff: noqa: PT009, PT027

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(APP / "src"))

from password_generator.generator import (  # noqa: E402
    ALPHABETS,
    PasswordPolicy,
    PolicyError,
    generate,
    policy_from_query,
)
from password_generator.server import make_server  # noqa: E402


class GenerateTest(unittest.TestCase):
    POLICIES = (
        PasswordPolicy(),
        PasswordPolicy(length=8, symbols=True),
        PasswordPolicy(length=128, lowercase=False, uppercase=False, symbols=True),
        PasswordPolicy(length=9, lowercase=False, uppercase=False, digits=True),
    )

    def test_honours_length_and_uses_every_chosen_class_and_nothing_else(self) -> None:
        for policy in self.POLICIES:
            allowed = "".join(ALPHABETS[name] for name in policy.classes)
            for seed in range(50):
                with self.subTest(policy=policy, seed=seed):
                    password = generate(policy, random.Random(seed))  # noqa: S311
                    self.assertEqual(len(password), policy.length)
                    self.assertTrue(set(password) <= set(allowed))
                    for name in policy.classes:
                        self.assertTrue(set(password) & set(ALPHABETS[name]), name)

    def test_same_seed_same_password_and_the_default_source_varies(self) -> None:
        policy = PasswordPolicy()
        seeded = [generate(policy, random.Random(7)) for _ in range(2)]  # noqa: S311
        self.assertEqual(seeded[0], seeded[1])
        self.assertEqual(len({generate(policy) for _ in range(20)}), 20)

    def test_refuses_impossible_or_weak_policies(self) -> None:
        cases = [
            (PasswordPolicy(length=7), "between 8 and 128"),
            (PasswordPolicy(length=129), "between 8 and 128"),
            (PasswordPolicy(lowercase=False, uppercase=False, digits=False), "at least one"),
        ]
        for policy, message in cases:
            with self.subTest(policy=policy), self.assertRaisesRegex(PolicyError, message):
                generate(policy)


class QueryTest(unittest.TestCase):
    def test_reads_policies_from_query_parameters(self) -> None:
        cases = [
            ({}, PasswordPolicy()),
            ({"length": ["12"]}, PasswordPolicy(length=12)),
            ({"symbols": ["true"], "digits": ["0"]}, PasswordPolicy(symbols=True, digits=False)),
            ({"length": ["9", "30"]}, PasswordPolicy(length=30)),  # the last value wins
            ({"uppercase": ["OFF"]}, PasswordPolicy(uppercase=False)),
        ]
        for query, expected in cases:
            with self.subTest(query=query):
                self.assertEqual(policy_from_query(query), expected)

    def test_bad_parameters_say_what_is_wrong(self) -> None:
        cases = [
            ({"length": ["ten"]}, "length must be a whole number, not 'ten'"),
            ({"length": ["4"]}, "length must be between 8 and 128"),
            ({"symbols": ["maybe"]}, "symbols must be true or false, not 'maybe'"),
            ({"colour": ["red"]}, "unknown parameter 'colour'"),
        ]
        for query, message in cases:
            with self.subTest(query=query), self.assertRaises(PolicyError) as caught:
                policy_from_query(query)
            self.assertEqual(str(caught.exception), message)


class ServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = make_server("127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def test_api_returns_a_password_as_json_and_forbids_caching(self) -> None:
        status, headers, body = self.get("/api/password?length=12&symbols=true")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "no-store")
        data = json.loads(body)
        self.assertEqual(len(data["password"]), 12)
        self.assertEqual(data["classes"], ["lowercase", "uppercase", "digits", "symbols"])

    def test_pages_health_and_errors(self) -> None:
        cases = [
            ("/", 200, b'<code id="password">'),
            ("/healthz", 200, b"ok\n"),
            ("/api/password?length=3", 400, b'"error": "length must be between 8 and 128"'),
            ("/nowhere", 404, b"no such page: /nowhere"),
        ]
        for path, expected_status, fragment in cases:
            with self.subTest(path=path):
                status, _, body = self.get(path)
                self.assertEqual(status, expected_status)
                self.assertIn(fragment, body)


class ProcessTest(unittest.TestCase):
    def test_sigterm_stops_the_server_cleanly(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(APP / "src"), "PORT": "0", "HOST": "127.0.0.1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "password_generator"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            self.assertIn("serving on http://127.0.0.1:", process.stderr.readline())
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(timeout=10), 0)
        finally:
            process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()


if __name__ == "__main__":
    unittest.main()
