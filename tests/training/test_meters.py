"""The meters: the fallback chain as data, provenance labels, which RAPL domains count and their
arithmetic, NVML's lifetime, the run's own memory, and overhead accounted (no timing limits)."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from pepr.scoring import energy
from pepr.training import energy_meters, meters


class _Unavailable:
    name = "never"

    def available(self) -> bool:
        return False


def test_chain_is_data_in_order_of_preference():
    assert energy_meters.list_energy_meters() == ["carbontracker", "nvml", "rapl",
                                           "green-algorithms-estimate"]


def test_defaults_are_carbontrackers_constants():
    from carbontracker import constants

    assert energy_meters.DEFAULT_PUE == constants.PUE_2023
    assert energy_meters.DEFAULT_INTENSITY_G_PER_KWH == constants.WORLD_AVG_CARBON_INTENSITY
    assert f"{constants.WORLD_AVG_CARBON_INTENSITY:g} g/kWh" in energy_meters.DEFAULT_INTENSITY_SOURCE


def test_first_available_strategy_wins():
    chosen = energy_meters.select_energy_meter([_Unavailable, energy_meters.UsageEstimateMeter])
    assert chosen.name == "green-algorithms-estimate"
    with pytest.raises(RuntimeError, match="no available energy meter"):
        energy_meters.select_energy_meter([_Unavailable])


class _Clock:
    """A clock that moves only when told: time accounted exactly, without sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _metered(watts_per_core: float, wall_s: float, cpu_s: float, busy_s: float,
             chain: list | None = None, peak_gb: float = 2.0, monkeypatch=None) -> dict:
    """One metered session whose wall, process CPU and machine busy times are given."""
    wall, cpu, busy = _Clock(), _Clock(), _Clock()
    chain = chain or [lambda: energy_meters.UsageEstimateMeter(watts_per_core=watts_per_core)]
    meter = meters.RunMeter(chain=chain, clock=wall, cpu_clock=cpu, machine_clock=busy)
    with meter.session():
        wall.now += wall_s
        cpu.now += cpu_s
        busy.now += busy_s
    return meter.report()


def test_estimate_is_the_runs_cpu_time_and_memory_labelled(monkeypatch):
    monkeypatch.setattr(meters, "peak_rss_gb", lambda: 2.0)
    row = _metered(watts_per_core=15.0, wall_s=100.0, cpu_s=90.0, busy_s=180.0)
    assert row["energy_method"] == "green-algorithms-estimate"
    assert row["energy_scope"] == "process" and row["cpu_time_s"] == 90.0
    joules = 90.0 * 15.0 + 100.0 * 2.0 * energy.MEMORY_W_PER_GB
    assert row["energy_kwh"] == pytest.approx(joules * energy_meters.DEFAULT_PUE / energy_meters.JOULES_PER_KWH)
    assert row["co2_g"] == pytest.approx(row["energy_kwh"] * row["carbon_intensity_g_per_kwh"])
    assert row["pue"] == energy_meters.DEFAULT_PUE and row["train_time_scope"] == "run"
    assert "estimate" in row["energy_detail"] and "0.3725 W/GB" in row["energy_detail"]


def test_runs_side_by_side_are_charged_what_each_used(monkeypatch):
    """Two single-thread runs on two cores against one two-thread run alone: per second, each
    of the first is charged about half (was: all three the same, the whole machine's rule)."""
    monkeypatch.setattr(meters, "peak_rss_gb", lambda: 1.2)
    side_by_side = _metered(15.0, wall_s=100.0, cpu_s=99.0, busy_s=200.0)
    alone_two_threads = _metered(15.0, wall_s=60.0, cpu_s=114.0, busy_s=116.0)
    per_second = [row["energy_kwh"] / row["train_time_s"]
                  for row in (side_by_side, alone_two_threads)]
    assert per_second[0] / per_second[1] < 0.6


def test_a_real_session_records_cpu_time_and_is_never_zero():
    meter = meters.RunMeter(chain=[_Unavailable, energy_meters.UsageEstimateMeter])
    with meter.session():
        sum(i * i for i in range(2_000_000))  # keeps the CPU busy
    row = meter.summary()
    assert 0 < row["cpu_time_s"] < 10 * row["train_time_s"] + 1
    assert row["energy_kwh"] > 0 and row["mem_kind"] == "cpu-rss" and row["peak_mem_gb"] > 0.01


def _domain(root: Path, folder: str, name: str, energy_uj: int | None,
            max_range_uj: int = 1_000_000_000) -> Path:
    """A fake powercap domain folder as the kernel lays it out (flat, one folder per domain)."""
    domain = root / folder
    domain.mkdir()
    (domain / "name").write_text(f"{name}\n")
    if energy_uj is not None:
        (domain / "energy_uj").write_text(f"{energy_uj}\n")
    (domain / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    return domain


def _unreadable_by_directory(counter: Path) -> None:
    counter.mkdir()  # reading a directory raises IsADirectoryError, even as root


def _unreadable_by_dangling_link(counter: Path) -> None:
    counter.symlink_to(counter.parent / "gone")  # FileNotFoundError when read


@pytest.fixture(params=[_unreadable_by_directory, _unreadable_by_dangling_link])
def powercap(tmp_path: Path, request, monkeypatch) -> dict[str, Path]:
    """package-0 with its core, uncore and dram, a psys platform domain, and a second package
    whose counter cannot be read (tests run as root, where chmod would not stop a read)."""
    tree = {
        "package": _domain(tmp_path, "intel-rapl:0", "package-0", 900_000_000),
        "core": _domain(tmp_path, "intel-rapl:0:0", "core", 100_000_000),
        "uncore": _domain(tmp_path, "intel-rapl:0:1", "uncore", 100_000_000),
        "dram": _domain(tmp_path, "intel-rapl:0:2", "dram", 5_000_000),
        "psys": _domain(tmp_path, "intel-rapl:1", "psys", 100_000_000),
        "unreadable": _domain(tmp_path, "intel-rapl:2", "package-1", None),
    }
    request.param(tree["unreadable"] / "energy_uj")
    (tmp_path / "intel-rapl").mkdir()  # the control type's folder: no domain
    monkeypatch.setattr(energy_meters, "POWERCAP_ROOT", tmp_path)
    return tree


def _advance(domain: Path, microjoules: int) -> None:
    counter = domain / "energy_uj"
    counter.write_text(f"{int(counter.read_text()) + microjoules}\n")


def test_rapl_sums_packages_and_dram_only_once(powercap: dict[str, Path]):
    counted = [d.path.name for d in energy_meters.counted_rapl_domains()]
    assert counted == ["intel-rapl:0", "intel-rapl:0:2"]
    rapl = energy_meters.RaplMeter(pue=1.5)
    assert rapl.available()
    rapl.start()
    (powercap["package"] / "energy_uj").write_text("260000000\n")  # wrapped: 100 J + 260 J
    _advance(powercap["dram"], 20_000_000)  # 20 J
    _advance(powercap["core"], 300_000_000)  # parts of the package and the platform: never
    _advance(powercap["uncore"], 30_000_000)
    _advance(powercap["psys"], 500_000_000)
    reading = rapl.stop(energy_meters.Usage(10.0, cpu_time_s=10.0, machine_busy_s=10.0, memory_gb=1.0))
    assert reading.method == "rapl" and reading.scope == "process-share"
    assert reading.energy_kwh == pytest.approx((360.0 + 20.0) * 1.5 / energy_meters.JOULES_PER_KWH)
    assert "intel-rapl:0 (package-0) + intel-rapl:0:2 (dram)" in reading.detail
    for left_out in ("core", "uncore", "psys", "package-1"):
        assert left_out not in reading.detail


def test_rapl_charges_the_runs_share_of_the_busy_cpu_time(powercap: dict[str, Path]):
    rapl = energy_meters.RaplMeter(pue=1.0)
    rapl.start()
    _advance(powercap["package"], 400_000_000)  # 400 J over the span, two runs side by side
    reading = rapl.stop(energy_meters.Usage(100.0, cpu_time_s=95.0, machine_busy_s=190.0, memory_gb=1.0))
    assert reading.energy_kwh == pytest.approx(200.0 / energy_meters.JOULES_PER_KWH)
    assert "share of busy CPU time 0.500" in reading.detail


def test_cpu_share_is_whole_for_a_run_alone_and_bounded():
    assert energy.cpu_time_share(10.0, 10.0) == 1.0
    assert energy.cpu_time_share(10.0, 9.0) == 1.0  # counters too coarse: the run alone
    assert energy.cpu_time_share(10.0, float("nan")) == 1.0
    assert energy.cpu_time_share(10.0, 40.0) == 0.25


def test_rapl_uses_psys_alone_without_a_readable_package(tmp_path: Path, monkeypatch):
    _domain(tmp_path, "intel-rapl:0", "package-0", None)
    _domain(tmp_path, "intel-rapl:0:0", "core", 1_000)
    _domain(tmp_path, "intel-rapl:0:2", "dram", 1_000)
    _domain(tmp_path, "intel-rapl:1", "psys", 1_000)
    monkeypatch.setattr(energy_meters, "POWERCAP_ROOT", tmp_path)
    assert [d.name for d in energy_meters.counted_rapl_domains()] == ["psys"]


def test_rapl_with_only_parts_readable_is_unavailable(tmp_path: Path):
    _domain(tmp_path, "intel-rapl:0", "package-0", None)
    _domain(tmp_path, "intel-rapl:0:0", "core", 1_000)
    _domain(tmp_path, "intel-rapl:0:2", "dram", 1_000)
    assert energy_meters.counted_rapl_domains(tmp_path) == []
    assert not energy_meters.RaplMeter(root=tmp_path).available()


def test_no_rapl_means_unavailable(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(energy_meters, "POWERCAP_ROOT", tmp_path / "none")
    assert not energy_meters.RaplMeter().available()


def _point_carbontracker_at(root: Path, monkeypatch) -> None:
    from carbontracker.components.cpu import intel

    monkeypatch.setattr(intel, "RAPL_DIR", f"{root}/")
    monkeypatch.setattr(energy_meters.NvmlMeter, "available", lambda self: False)


def test_carbontracker_cpu_needs_every_counter_it_reads(powercap: dict[str, Path], monkeypatch):
    # carbontracker's own check sees a non-empty folder; it would then fail on package-1
    # and record zero power under the "carbontracker" label
    _point_carbontracker_at(powercap["package"].parent, monkeypatch)
    assert energy_meters._carbontracker_measuring_components() == []
    assert not energy_meters.CarbontrackerMeter().available()


def test_carbontracker_cpu_counts_when_its_counters_read(tmp_path: Path, monkeypatch):
    _domain(tmp_path, "intel-rapl:0", "package-0", 1_000)
    _domain(tmp_path, "intel-rapl:0:0", "core", 1_000)
    _domain(tmp_path, "intel-rapl:0:2", "dram", 1_000)
    _domain(tmp_path, "intel-rapl:1", "psys", None)  # carbontracker never reads psys
    _point_carbontracker_at(tmp_path, monkeypatch)
    assert energy_meters._carbontracker_measuring_components() == ["cpu"]


class _FakeNvml(types.ModuleType):
    """``pynvml`` with one GPU whose energy counter (mJ) advances 1000 mJ per read."""

    class NVMLError(Exception):
        pass

    def __init__(self, init_fails: bool = False, counter_fails: bool = False) -> None:
        super().__init__("pynvml")
        self.init_fails, self.counter_fails = init_fails, counter_fails
        self.open, self.inits, self.shutdowns, self.energy_mj = 0, 0, 0, 0

    def nvmlInit(self) -> None:
        if self.init_fails:
            raise self.NVMLError("driver not loaded")
        self.inits += 1
        self.open += 1

    def nvmlShutdown(self) -> None:
        if self.open == 0:
            raise self.NVMLError("uninitialized")
        self.shutdowns += 1
        self.open -= 1

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        if self.open == 0:
            raise self.NVMLError("uninitialized")
        return f"gpu{index}"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        if self.counter_fails:
            raise self.NVMLError("not supported")
        self.energy_mj += 1000
        return self.energy_mj

    processes: tuple[tuple[int, int], ...] = ()  # (pid, SM utilisation) of other processes

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list:
        return [types.SimpleNamespace(pid=pid) for pid, _ in self.processes]

    def nvmlDeviceGetProcessUtilization(self, handle: str, since_us: int) -> list:
        return [types.SimpleNamespace(pid=pid, smUtil=sm) for pid, sm in self.processes]


@pytest.mark.parametrize("counter_fails", [False, True])
def test_nvml_probe_shuts_nvml_down(monkeypatch, counter_fails: bool):
    fake = _FakeNvml(counter_fails=counter_fails)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert energy_meters.NvmlMeter().available() is not counter_fails
    assert fake.inits == fake.shutdowns == 1 and fake.open == 0


def test_nvml_probe_without_driver_shuts_nothing_down(monkeypatch):
    fake = _FakeNvml(init_fails=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert not energy_meters.NvmlMeter().available()
    assert fake.shutdowns == 0


def test_nvml_measures_after_its_probe_and_closes(monkeypatch):
    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nvml = energy_meters.NvmlMeter(pue=2.0)
    assert nvml.available()
    nvml.start()
    reading = nvml.stop(energy_meters.Usage(1.0, 1.0, 1.0, 1.0))
    assert reading.energy_kwh == pytest.approx(1.0 * 2.0 / energy_meters.JOULES_PER_KWH)  # 1000 mJ
    assert reading.scope == "device"
    assert fake.open == 0 and fake.inits == fake.shutdowns == 2


def test_nvml_splits_by_sm_time_when_another_process_computes(monkeypatch):
    import os

    fake = _FakeNvml()
    fake.processes = ((os.getpid(), 30), (4242, 90))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nvml = energy_meters.NvmlMeter(pue=1.0)
    nvml.start()
    reading = nvml.stop(energy_meters.Usage(1.0, 1.0, 1.0, 1.0))
    assert reading.scope == "gpu-share"
    assert reading.energy_kwh == pytest.approx(1.0 * 0.25 / energy_meters.JOULES_PER_KWH)


def test_chain_on_this_machine_never_gives_silent_zero():
    meter = meters.RunMeter()
    with meter.session():
        time.sleep(0.1)
    row = meter.summary()
    assert row["energy_method"] in energy_meters.list_energy_meters()
    assert row["energy_kwh"] > 0 and row["energy_scope"] in energy.ENERGY_SCOPES


_FakeClock = _Clock


class _SlowStrategy:
    """A strategy whose start and stop take 2 s and 3 s of the meter's own time."""

    name = "slow"

    def __init__(self, clock: _FakeClock) -> None:
        self.clock = clock

    def available(self) -> bool:
        return True

    def start(self) -> None:
        self.clock.now += 2.0

    def stop(self, usage: energy_meters.Usage) -> energy_meters.EnergyReading:
        self.clock.now += 3.0
        return energy_meters.EnergyReading(1e-3, self.name, "fake", 1.0)


def test_overhead_is_accounted_and_reported():
    clock = _FakeClock()
    meter = meters.RunMeter(chain=[lambda: _SlowStrategy(clock)], clock=clock)
    with meter.session():
        meter.epoch_started()
        clock.now += 90.0
        meter.epoch_ended()
        with meter.inference():
            clock.now += 10.0
    report = meter.report()
    assert report["epoch_times_s"] == [90.0] and report["infer_time_s"] == 10.0
    assert report["train_time_s"] == 100.0  # the meter's own 5 s are not the run's
    assert report["meter_overhead_s"] == 5.0 and report["meter_overhead_pct"] == 5.0


def test_overhead_is_a_reported_number_on_a_real_clock():
    meter = meters.RunMeter(chain=[energy_meters.UsageEstimateMeter])
    with meter.session():
        meter.epoch_started()
        meter.epoch_ended()
    report = meter.report()
    assert 0.0 <= report["meter_overhead_s"] < float("inf")
    assert report["meter_overhead_pct"] == pytest.approx(
        100 * report["meter_overhead_s"] / report["train_time_s"])


def _tdp_meter(**kwargs) -> meters.RunMeter:
    return meters.RunMeter(chain=[lambda: energy_meters.UsageEstimateMeter(watts_per_core=10.0)],
                           **kwargs)


def test_run_memory_is_peak_rss_above_the_marked_baseline(monkeypatch):
    monkeypatch.setattr(meters, "RSS_SOURCES", [lambda: 1.25])
    monkeypatch.setattr(meters, "peak_rss_gb", lambda: 2.0)
    meter = _tdp_meter()
    assert meter.mark_memory_baseline() == 1.25
    monkeypatch.setattr(meters, "RSS_SOURCES", [lambda: 1.9])  # the session keeps the mark
    with meter.session():
        pass
    row = meter.summary()
    assert row["peak_mem_gb"] == 2.0 and row["mem_kind"] == "cpu-rss"
    assert row["run_mem_gb"] == pytest.approx(0.75)
    assert "upper bound" in meter.report()["run_mem_detail"]  # the peak predates the mark


def test_session_marks_the_baseline_when_nobody_did_and_never_goes_negative(monkeypatch):
    monkeypatch.setattr(meters, "RSS_SOURCES", [lambda: 3.0])
    monkeypatch.setattr(meters, "peak_rss_gb", lambda: 2.5)  # counters disagree a little
    meter = _tdp_meter()
    with meter.session():
        pass
    assert meter.memory_baseline_gb == 3.0
    assert meter.summary()["run_mem_gb"] == 0.0


def test_run_memory_sees_an_allocation_inside_the_run():
    meter = _tdp_meter()
    meter.mark_memory_baseline()
    with meter.session():
        block = b"\x01" * 300_000_000  # touched, so resident
    del block
    row = meter.summary()
    assert 0.25 <= row["run_mem_gb"] <= row["peak_mem_gb"]


def test_current_rss_reads_proc_and_falls_back_to_the_peak(monkeypatch):
    assert 0.0 < meters.current_rss_gb() < float("inf")
    monkeypatch.setattr(meters, "RSS_SOURCES", [lambda: None, meters.peak_rss_gb])
    assert meters.current_rss_gb() == meters.peak_rss_gb()


def test_run_memory_on_cuda_is_the_allocators_peak(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda *a, **k: 4_000_000_000)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: 3_000_000_000)
    meter = _tdp_meter(device="cuda:0")
    with meter.session():
        pass
    row = meter.summary()
    assert (row["peak_mem_gb"], row["mem_kind"], row["run_mem_gb"]) == (4.0, "gpu-reserved", 3.0)


def test_summary_before_session_end_is_an_error():
    with pytest.raises(RuntimeError):
        meters.RunMeter().summary()


@pytest.mark.slow
def test_carbontracker_strategy_reads_its_log_quietly(capfd):
    simulated = lambda: energy_meters.CarbontrackerMeter(sim_cpu="Simulated CPU", sim_cpu_tdp=100)
    meter = meters.RunMeter(chain=[simulated])
    with meter.session():
        time.sleep(2.5)
    row = meter.summary()
    assert row["energy_method"] == "carbontracker"
    # carbontracker's simulated CPU draws half of 100 W; its figure includes its PUE
    watts = 100 * 0.5
    assert row["energy_kwh"] == pytest.approx(
        watts * meter.wall_time_s * energy_meters.DEFAULT_PUE / energy_meters.JOULES_PER_KWH, rel=0.3)
    assert row["co2_g"] > 0 and "carbontracker" in row["intensity_source"]
    assert row["energy_scope"] == "device"  # a simulated component is nobody else's
    time.sleep(0.5)
    out, err = capfd.readouterr()
    assert "CarbonTracker" not in out + err and "ipinfo" not in out + err
