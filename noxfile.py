"""Release sessions for buildkit. All logic lives in buildkit.sessions."""

import nox

import buildkit.sessions  # noqa: F401  (registers the sessions)

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests"]
