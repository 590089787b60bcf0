"""One wording for durations, counts and counted nouns across the checks and the reports (auditor.textfmt)."""

from __future__ import annotations

from auditor.textfmt import count, duration, elapsed, elapsed_ms, plural


def test_durations_change_unit_at_two_of_the_next() -> None:
    cases = {0: "0 s", 45: "45 s", 89.6: "90 s", 119.4: "119 s", 120: "2 min", 5400: "90 min", 7199: "120 min",
             7200: "2 h", 3.5 * 3600: "3.5 h", 24 * 3600: "24 h", 47.9 * 3600: "47.9 h", 2 * 86_400: "2 days",
             4.2 * 86_400: "4.2 days", 12 * 86_400: "12 days"}
    assert {s: duration(s) for s in cases} == cases


def test_counts_and_counted_nouns_group_thousands() -> None:
    assert count(1_234_567) == "1,234,567" and count(0) == "0" and count(None) == "-"
    assert [plural(n, "check") for n in (0, 1, 2, 1234)] == ["0 checks", "1 check", "2 checks", "1,234 checks"]


def test_measured_times_take_one_unit_per_size() -> None:
    """Red team: "sampling took longer than 0.626123 s", "90,328.594 ms", "18.6 s" beside "1,820.4 ms"."""
    cases = {0.0421: "0.04 ms", 4.2: "4.20 ms", 9.999: "10.0 ms", 182.44: "182.4 ms", 999.94: "999.9 ms",
             999.96: "1.0 s", 1820.4: "1.8 s", 18_600: "18.6 s", 90_328.594: "90.3 s", 150_000: "2 min",
             4 * 3_600_000: "4 h"}
    assert {v: elapsed_ms(v) for v in cases} == cases
    assert elapsed(0.626123) == "626.1 ms" and elapsed(5) == "5.0 s"
