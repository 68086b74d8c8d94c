"""Task log paging: DS's ``lineNum`` counts CRLF pieces only, so we count lines ourselves (CONTRACT §3.3)."""

from __future__ import annotations


def count_lines(message: str) -> int:
    """Lines in a log window: each ``\\n`` ends one; a trailing piece without ``\\n`` is one more."""
    if not message:
        return 0
    return message.count("\n") + (0 if message.endswith("\n") else 1)
