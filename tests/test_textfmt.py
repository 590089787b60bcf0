"""One wording for durations, counts and counted nouns across the checks and the reports (auditor.textfmt)."""

from __future__ import annotations

from auditor.textfmt import count, duration, plural


def test_durations_change_unit_at_two_of_the_next() -> None:
    cases = {0: "0 s", 45: "45 s", 89.6: "90 s", 119.4: "119 s", 120: "2 min", 5400: "90 min", 7199: "120 min",
             7200: "2 h", 3.5 * 3600: "3.5 h", 24 * 3600: "24 h", 47.9 * 3600: "47.9 h", 2 * 86_400: "2 days",
             4.2 * 86_400: "4.2 days", 12 * 86_400: "12 days"}
    assert {s: duration(s) for s in cases} == cases


def test_counts_and_counted_nouns_group_thousands() -> None:
    assert count(1_234_567) == "1,234,567" and count(0) == "0" and count(None) == "-"
    assert [plural(n, "check") for n in (0, 1, 2, 1234)] == ["0 checks", "1 check", "2 checks", "1,234 checks"]
