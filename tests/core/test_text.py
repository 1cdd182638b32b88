"""Words for numbers (pepr.core.text): agreement, lists, one rounding of a total, estimates."""

from __future__ import annotations

import math

from pepr.core.text import estimate_text, interval_text, listing, plural, significant


def test_plural_agrees_with_the_count():
    assert plural(1, "run") == "1 run"
    assert plural(3, "run") == "3 runs"
    assert plural(1_048, "run") == "1,048 runs"
    assert plural(2, "analysis", "analyses") == "2 analyses"


def test_listing_reads_aloud_and_shortens_long_lists():
    assert listing([]) == ""
    assert listing(["a"]) == "a"
    assert listing(["a", "b", "c"]) == "a, b and c"
    assert listing(list("abcdefghij"), limit=4) == "a, b, c and 7 more"


def test_a_total_is_rounded_once_to_significant_figures():
    assert significant(1.999) == "2.00"  # never "2" on one page and "1.999" on another
    assert significant(47.63) == "47.6"
    assert significant(3.2801) == "3.28"
    assert significant(1048.2) == "1,048"
    assert significant(0.0891) == "0.0891"
    assert significant(math.nan) == "–"
    assert significant(None) == "–"


def test_an_estimate_carries_its_interval_in_prose_and_in_a_cell():
    assert estimate_text(0.97, 0.95, 0.98, ".2f") == "0.97 (95 % interval 0.95–0.98)"
    assert estimate_text(0.088, 0.051, 0.125, label="") == "0.088 (0.051–0.125)"
    assert estimate_text(0.1, math.nan, 0.2) == "0.100"
    assert estimate_text(math.nan, 0.1, 0.2) == "–"
    assert interval_text(0.79, 0.9) == "0.79–0.90"
    assert interval_text(None, 0.9) == "–"


def test_recorded_hardware_reads_with_its_counts_in_agreement():
    from pepr.core.text import hardware_text

    assert hardware_text("AMD EPYC (2 logical CPUs, 1 torch threads)") == "AMD EPYC (2 logical CPUs, 1 torch thread)"
    assert hardware_text("X (1 logical CPUs, 4 torch threads)") == "X (1 logical CPU, 4 torch threads)"
    assert hardware_text("NVIDIA H200") == "NVIDIA H200"
