"""Release sessions for buildkit. All logic lives in buildkit.sessions."""

import nox

from buildkit.sessions import register

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests"]

register(nox)
