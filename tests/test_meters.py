"""The meters: the fallback chain as data, provenance labels, RAPL arithmetic, overhead."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pepr import meters


class _Unavailable:
    name = "never"

    def available(self) -> bool:
        return False


def test_chain_is_data_in_order_of_preference():
    assert meters.list_energy_meters() == ["carbontracker", "nvml", "rapl", "tdp-estimate"]


def test_defaults_are_carbontrackers_constants():
    from carbontracker import constants

    assert meters.DEFAULT_PUE == constants.PUE_2023
    assert meters.DEFAULT_INTENSITY_G_PER_KWH == constants.WORLD_AVG_CARBON_INTENSITY
    assert f"{constants.WORLD_AVG_CARBON_INTENSITY:g} g/kWh" in meters.DEFAULT_INTENSITY_SOURCE


def test_first_available_strategy_wins():
    chosen = meters.select_energy_meter([_Unavailable, meters.TdpEstimateMeter])
    assert chosen.name == "tdp-estimate"
    with pytest.raises(RuntimeError, match="no available energy meter"):
        meters.select_energy_meter([_Unavailable])


def test_tdp_estimate_is_labelled_and_never_zero():
    meter = meters.RunMeter(chain=[_Unavailable, lambda: meters.TdpEstimateMeter(tdp_w=100.0)])
    with meter.session():
        time.sleep(0.2)
    row = meter.summary()
    assert row["energy_method"] == "tdp-estimate"
    expected = (100.0 * meters.ASSUMED_CPU_UTILISATION * meter.wall_time_s * meters.DEFAULT_PUE
                / meters.JOULES_PER_KWH)
    assert row["energy_kwh"] == pytest.approx(expected, rel=0.05)
    assert row["energy_kwh"] > 0
    assert row["co2_g"] == pytest.approx(row["energy_kwh"] * row["carbon_intensity_g_per_kwh"])
    assert row["intensity_source"] and row["pue"] == meters.DEFAULT_PUE
    assert row["mem_kind"] == "cpu-rss" and row["peak_mem_gb"] > 0.01
    assert row["train_time_scope"] == "run"
    assert "estimate" in meter.report()["energy_detail"]


def test_carbontracker_tdp_table_matches_epyc_like_carbontracker():
    tdp, source = meters.carbontracker_cpu_tdp("AMD EPYC")
    assert tdp == 120.0 and "EPYC" in source


def test_rapl_reads_counters_and_handles_wraparound(tmp_path: Path, monkeypatch):
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("900000000\n")
    (domain / "max_energy_range_uj").write_text("1000000000\n")
    monkeypatch.setattr(meters, "RAPL_GLOB", str(tmp_path / "intel-rapl:*"))
    rapl = meters.RaplMeter(pue=1.0)
    assert rapl.available()
    rapl.start()
    (domain / "energy_uj").write_text("260000000\n")  # wrapped: 100 J + 260 J
    reading = rapl.stop()
    assert reading.method == "rapl"
    assert reading.energy_kwh == pytest.approx(360.0 / meters.JOULES_PER_KWH)


def test_no_rapl_means_unavailable(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(meters, "RAPL_GLOB", str(tmp_path / "none:*"))
    assert not meters.RaplMeter().available()


def test_chain_on_this_machine_never_gives_silent_zero():
    meter = meters.RunMeter()
    with meter.session():
        time.sleep(0.1)
    row = meter.summary()
    assert row["energy_method"] in meters.list_energy_meters()
    assert row["energy_kwh"] > 0


def test_overhead_is_small_and_accounted():
    meter = meters.RunMeter(chain=[meters.TdpEstimateMeter])
    with meter.session():
        meter.epoch_started()
        time.sleep(0.5)
        meter.epoch_ended()
        with meter.inference():
            time.sleep(0.05)
    report = meter.report()
    assert report["epoch_times_s"][0] == pytest.approx(0.5, abs=0.1)
    assert report["infer_time_s"] == pytest.approx(0.05, abs=0.04)
    assert report["meter_overhead_pct"] < 2.0


def test_summary_before_session_end_is_an_error():
    with pytest.raises(RuntimeError):
        meters.RunMeter().summary()


@pytest.mark.slow
def test_carbontracker_strategy_reads_its_log_quietly(capfd):
    simulated = lambda: meters.CarbontrackerMeter(sim_cpu="Simulated CPU", sim_cpu_tdp=100)
    meter = meters.RunMeter(chain=[simulated])
    with meter.session():
        time.sleep(2.5)
    row = meter.summary()
    assert row["energy_method"] == "carbontracker"
    # carbontracker's simulated CPU draws half of 100 W; its figure includes its PUE
    watts = 100 * meters.ASSUMED_CPU_UTILISATION
    assert row["energy_kwh"] == pytest.approx(
        watts * meter.wall_time_s * meters.DEFAULT_PUE / meters.JOULES_PER_KWH, rel=0.3)
    assert row["co2_g"] > 0 and "carbontracker" in row["intensity_source"]
    time.sleep(0.5)
    out, err = capfd.readouterr()
    assert "CarbonTracker" not in out + err and "ipinfo" not in out + err
