"""``python -m password_generator``: run the web server."""

from password_generator.server import main

raise SystemExit(main())
