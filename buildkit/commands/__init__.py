"""Command-line verbs, one module each (see buildkit.cli)."""
