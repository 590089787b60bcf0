"""How figures read in messages and reports: durations, counts, counted nouns. One wording for every check and
every report, so that the same age never reads "12 min" in one place and "12 minutes" in another."""

from __future__ import annotations

__all__ = ["count", "duration", "plural"]

MINUTE_FROM_S = 120  # under two minutes: seconds ("90 s" reads better than "2 min")
HOUR_FROM_S = 2 * 3600  # under two hours: minutes
DAY_FROM_S = 2 * 86_400  # under two days: hours


def _tenths(value: float) -> str:
    """One decimal at most, none when it is 0: 3.5, 12."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def duration(seconds: float) -> str:
    """45 s, 12 min, 3.5 h, 4.2 days: seconds under two minutes, minutes under two hours, hours under two days."""
    if seconds < MINUTE_FROM_S:
        return f"{seconds:.0f} s"
    if seconds < HOUR_FROM_S:
        return f"{seconds / 60:.0f} min"
    if seconds < DAY_FROM_S:
        return f"{_tenths(seconds / 3600)} h"
    return f"{_tenths(seconds / 86_400)} days"


def count(n: int | None) -> str:
    """1,234,567; "-" for an unknown figure."""
    return "-" if n is None else f"{n:,}"


def plural(n: int, word: str) -> str:
    """1 check, 2 checks, 1,234 findings (the word takes an "s")."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
