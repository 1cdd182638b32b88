"""The settings ``pepr advise`` states: the percentile names its texts are written with."""

from __future__ import annotations

import pytest

from pepr.advice import defaults as advise_defaults


@pytest.mark.parametrize(("quantile", "name"), [
    (0.1, "10th"), (0.9, "90th"), (0.01, "1st"), (0.02, "2nd"), (0.03, "3rd"), (0.11, "11th"),
    (0.21, "21st"), (0.5, "50th"),
])
def test_percentile_name_reads_as_said(quantile: float, name: str):
    assert advise_defaults.percentile_name(quantile) == name


def test_the_interval_name_follows_the_interval():
    low, high = advise_defaults.ACCURACY_INTERVAL
    assert advise_defaults.ACCURACY_INTERVAL_NAME == (
        f"{advise_defaults.percentile_name(low)}-{advise_defaults.percentile_name(high)} percentile")
    assert advise_defaults.ACCURACY_INTERVAL_NAME == "10th-90th percentile"
