"""The Green Algorithms estimate: the processor's power per core, the arithmetic, its labels."""

from __future__ import annotations

import pytest

from pepr.scoring import energy


def test_a_family_name_is_an_assumed_part_and_says_so():
    power = energy.cpu_power("AMD EPYC", environ={})
    assert power.watts_per_core == 120.0 / 8
    assert "assumed" in power.source and "AMD EPYC 7251" in power.source


def test_an_unlisted_processor_gets_green_algorithms_default():
    power = energy.cpu_power("Intel(R) Xeon(R) Processor", environ={})
    assert power.watts_per_core == energy.GREEN_ALGORITHMS_ANY_W_PER_CORE
    assert "not in Green Algorithms' processor table" in power.source


def test_the_users_figure_wins_and_a_bad_one_is_refused():
    given = energy.cpu_power("AMD EPYC", environ={energy.WATTS_PER_CORE_ENV: "7.5"})
    assert given.watts_per_core == 7.5 and energy.WATTS_PER_CORE_ENV in given.source
    with pytest.raises(ValueError, match=energy.WATTS_PER_CORE_ENV):
        energy.cpu_power("AMD EPYC", environ={energy.WATTS_PER_CORE_ENV: "lots"})


def test_estimate_is_cores_used_times_power_plus_memory_times_pue():
    # one core busy for an hour at 15 W, 2 GB held for the hour: (15 + 0.745) Wh x PUE 2
    kwh = energy.estimate_energy_kwh(3600.0, 3600.0, 2.0, 15.0, pue=2.0)
    assert kwh == pytest.approx((15.0 + 2 * energy.MEMORY_W_PER_GB) * 2.0 / 1000)
    # the same wall time with both cores busy costs the CPU's share twice
    both = energy.estimate_energy_kwh(7200.0, 3600.0, 2.0, 15.0, pue=2.0)
    assert both - kwh == pytest.approx(15.0 * 2.0 / 1000)
    with pytest.raises(ValueError):
        energy.estimate_energy_kwh(-1.0, 1.0, 1.0, 1.0)


def test_every_scope_is_described_and_detail_names_the_constants():
    assert {"process", "process-assumed", "process-share", "gpu-share", "device",
            "imported"} <= set(energy.ENERGY_SCOPES)
    detail = energy.estimate_detail(energy.cpu_power("AMD EPYC", environ={}), 1.58)
    assert "Lannelongue" in detail and "15 W per core" in detail and "PUE 1.58" in detail
