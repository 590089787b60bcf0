"""How figures read in messages and reports: durations, counts, counted nouns. One wording for every check and
every report, so that the same age never reads "12 min" in one place and "12 minutes" in another."""

from __future__ import annotations

__all__ = ["count", "duration", "elapsed", "elapsed_ms", "plural"]

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


def elapsed_ms(ms: float) -> str:
    """A measured time (a statement's, a probe's, a saving): 0.42 ms, 182.4 ms, 1.8 s, 90.3 s, 12 min. Under 1 s in
    ms, from 1 s on in seconds with one decimal, from two minutes on as :func:`duration`: one unit per size, so
    "1,820.4 ms" never stands next to "18.6 s", and never more than two decimals."""
    if round(ms, 2) < 10:
        return f"{ms:.2f} ms"
    if round(ms, 1) < 1000:
        return f"{ms:.1f} ms"
    if round(ms / 1000, 1) < MINUTE_FROM_S:
        return f"{ms / 1000:.1f} s"
    return duration(ms / 1000)


def elapsed(seconds: float) -> str:
    """:func:`elapsed_ms` of a time given in seconds."""
    return elapsed_ms(seconds * 1000)


def count(n: int | None) -> str:
    """1,234,567; "-" for an unknown figure."""
    return "-" if n is None else f"{n:,}"


def plural(n: int, word: str) -> str:
    """1 check, 2 checks, 1,234 findings (the word takes an "s")."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
