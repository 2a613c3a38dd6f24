"""What a failed tool's log is worth showing: its last few meaningful lines (pure).

A tool's log starts with the container command line (hundreds of characters of mounts and
flags) and ends with whatever the tool printed last. The user needs the reason, which is in
the tool's own last lines; the command line stays in the log. This keeps, from the end of the
log: no command lines (``$ docker run ...``), no blank lines, no ANSI colours, no
timestamps; the lines that say error or failed when there are any (else simply the last
ones); each shortened to one screen line.
"""

from __future__ import annotations

import re

SHOWN_LINES = 6
LINE_LIMIT = 160

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "2026/12/04 20:01:02 ", "2026-12-04T20:01:02Z ", "time=... " prefixes tools put on lines
_STAMP = re.compile(
    r"^(?:\d{4}[/-]\d\d[/-]\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+"
    r"|time=\"?[^\s\"]+\"?\s+)"
)
_ERROR = re.compile(r"\b(?:error|erro|fatal|failed|failure|panic|no such|not found|denied)\b", re.I)


def meaningful_lines(text: str, *, count: int = SHOWN_LINES) -> list[str]:
    """The last ``count`` lines of ``text`` worth reading (see the module docstring)."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = _STAMP.sub("", _ANSI.sub("", raw)).strip()
        if not line or line.startswith("$ "):
            continue
        if lines and lines[-1] == line:
            continue  # a retried step prints the same line again
        lines.append(line)
    errors = [line for line in lines if _ERROR.search(line)]
    chosen = (errors or lines)[-count:]
    return [_shorten(line) for line in chosen]


def _shorten(line: str) -> str:
    if len(line) <= LINE_LIMIT:
        return line
    keep = LINE_LIMIT - 5
    return f"{line[: keep // 3]} ... {line[-(keep - keep // 3) :]}"
