"""Resource meters: wall time, energy, CO2, peak memory and inference time of one run.

One interface, :class:`RunMeter`, measures a training run. Energy comes from the first
available strategy of :data:`ENERGY_METERS` (the fallback chain is data, as in carbontracker's
component table):

1. ``carbontracker`` - when carbontracker finds a component that really measures (NVML for
   NVIDIA GPUs, RAPL for Intel CPUs); its log is read through ``parse_all_logs(...)["actual"]``;
2. ``nvml`` - an NVIDIA GPU's cumulative energy counter read directly through ``pynvml``;
3. ``rapl`` - the CPU package energy counters under ``/sys/class/powercap`` read directly;
4. ``tdp-estimate`` - nothing measurable: the CPU's thermal design power at 50 % utilisation
   for the whole wall time (carbontracker's own generic-CPU rule, same TDP table), an ESTIMATE
   that is proportional to wall time, so energy ranks exactly like time.

Every energy figure includes the data-centre PUE (as carbontracker's do) and says so in
``pue``; CO2 is energy times a carbon intensity whose source is recorded. Nothing here touches
the network: carbontracker (which geolocates by IP when constructed) is only constructed when it
has a real component to read. Every value carries its provenance (``energy_method``,
``intensity_source``, ``mem_kind``).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import os
import platform
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: carbontracker 2.4's data-centre power usage effectiveness (``constants.PUE_2023``).
DEFAULT_PUE = 1.58
#: carbontracker's world-average carbon intensity (gCO2/kWh), its fallback when offline.
DEFAULT_INTENSITY_G_PER_KWH = 445.0
DEFAULT_INTENSITY_SOURCE = (f"world average {DEFAULT_INTENSITY_G_PER_KWH:g} g/kWh "
                            "(carbontracker's offline default)")
#: TDP used when the CPU matches nothing in carbontracker's table and the table is unavailable.
FALLBACK_CPU_TDP_W = 120.0
#: carbontracker's generic-CPU rule: a CPU is assumed to draw half its TDP.
ASSUMED_CPU_UTILISATION = 0.5
RAPL_GLOB = "/sys/class/powercap/intel-rapl:*"
JOULES_PER_KWH = 3.6e6


@dataclass
class EnergyReading:
    """Energy of a measured span and how it was obtained (``method``, ``detail``)."""

    energy_kwh: float
    method: str
    detail: str
    pue: float
    co2_g: float | None = None  # when the strategy also reports CO2 (carbontracker)
    intensity_source: str | None = None


class EnergyMeter(Protocol):
    """A strategy in the fallback chain: report availability, then measure a span."""

    name: str

    def available(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

def _rapl_domains() -> list[Path]:
    """Readable top-level RAPL package domains (``intel-rapl:N``)."""
    domains = []
    for path in sorted(glob.glob(RAPL_GLOB)):
        counter = Path(path) / "energy_uj"
        if counter.exists() and os.access(counter, os.R_OK):
            domains.append(Path(path))
    return domains


class RaplMeter:
    """CPU package energy from the kernel's RAPL counters (wrap-around handled)."""

    name = "rapl"

    def __init__(self, pue: float = DEFAULT_PUE) -> None:
        self.pue = pue
        self._start: dict[Path, int] = {}

    def available(self) -> bool:
        try:
            return bool(_rapl_domains())
        except OSError:
            return False

    def _read(self) -> dict[Path, int]:
        return {d: int((d / "energy_uj").read_text()) for d in _rapl_domains()}

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> EnergyReading:
        end = self._read()
        joules = 0.0
        for domain, before in self._start.items():
            after = end.get(domain, before)
            if after < before:  # the counter wrapped
                after += int((domain / "max_energy_range_uj").read_text())
            joules += (after - before) / 1e6
        return EnergyReading(joules * self.pue / JOULES_PER_KWH, self.name,
                             f"RAPL packages {len(self._start)} x PUE {self.pue}", self.pue)


class NvmlMeter:
    """GPU energy from NVML's cumulative counter (Volta and later), all visible GPUs."""

    name = "nvml"

    def __init__(self, pue: float = DEFAULT_PUE) -> None:
        self.pue = pue
        self._start: list[int] = []

    def available(self) -> bool:
        try:
            import pynvml

            pynvml.nvmlInit()
            handles = self._handles()
            for handle in handles:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            return bool(handles)
        except Exception:  # no library, no driver, no GPU or no counter
            return False

    @staticmethod
    def _handles() -> list:
        import pynvml

        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def _read(self) -> list[int]:
        import pynvml

        return [pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles()]

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> EnergyReading:
        millijoules = sum(after - before for before, after in zip(self._start, self._read()))
        return EnergyReading(millijoules / 1e3 * self.pue / JOULES_PER_KWH, self.name,
                             f"NVML energy counter, {len(self._start)} GPU(s) x PUE {self.pue}",
                             self.pue)


def _carbontracker_measuring_components() -> list[str]:
    """Components for which carbontracker would measure (not estimate): ``gpu``, ``cpu``."""
    found = []
    try:
        from carbontracker.components.cpu import intel

        if intel.IntelCPU(pids=[], devices_by_pid=False).available():
            found.append("cpu")
    except Exception:
        pass
    if NvmlMeter().available():
        found.append("gpu")
    return found


class CarbontrackerMeter:
    """carbontracker over the whole span (one tracker "epoch"), read from its own log."""

    name = "carbontracker"

    def __init__(self, pue: float = DEFAULT_PUE, **tracker_kwargs: object) -> None:
        """``tracker_kwargs`` go to ``CarbonTracker`` (e.g. its ``sim_cpu``/``sim_cpu_tdp``
        simulated components, which make the strategy available for tests)."""
        self.pue = pue
        self.tracker_kwargs = tracker_kwargs
        self._tracker = None
        self._log_dir: str | None = None
        self._components: list[str] = []

    def available(self) -> bool:
        if "sim_cpu" in self.tracker_kwargs or "sim_gpu" in self.tracker_kwargs:
            self._components = [c for c, key in (("cpu", "sim_cpu"), ("gpu", "sim_gpu"))
                                if key in self.tracker_kwargs]
            return True
        self._components = _carbontracker_measuring_components()
        return bool(self._components)

    def start(self) -> None:
        import logging

        from carbontracker.tracker import CarbonTracker

        self._log_dir = tempfile.mkdtemp(prefix="pepr-carbontracker-")
        # carbontracker binds its console handlers to sys.stdout when constructed, and its
        # IP geolocation (geocoder) logs an error offline: keep both out of the run's output.
        logging.getLogger("geocoder").setLevel(logging.CRITICAL)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self._tracker = CarbonTracker(
                epochs=1, components=",".join(self._components) or "all",
                log_dir=self._log_dir, verbose=0, ignore_errors=True, update_interval=1,
                **self.tracker_kwargs,
            )
            self._tracker.epoch_start()

    def stop(self) -> EnergyReading:
        from carbontracker import parser

        assert self._tracker is not None and self._log_dir is not None
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self._tracker.epoch_end()
        try:
            # parse_all_logs(...)["actual"], not aggregate_consumption (which returns the
            # prediction when epochs > 1: its regex expects "epochs", the log says "epoch(s)")
            logs = parser.parse_all_logs(self._log_dir)
            actual = logs[0]["actual"] if logs else None
            if not actual:
                raise RuntimeError(f"carbontracker wrote no consumption to {self._log_dir}")
            energy = float(actual["energy (kWh)"])
            co2 = actual.get("co2eq (g)")
        finally:
            shutil.rmtree(self._log_dir, ignore_errors=True)
        return EnergyReading(energy, self.name,
                             f"carbontracker components {self._components} (includes its PUE)",
                             self.pue, co2_g=None if co2 is None else float(co2),
                             intensity_source="carbontracker (its live intensity, or its default "
                                              "world average when offline)")


def cpu_model_name() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def carbontracker_cpu_tdp(brand: str) -> tuple[float, str]:
    """The TDP (W) that carbontracker's generic-CPU handler would assume for ``brand``.

    Same table (carbontracker's ``data/cpu_power.csv``) and matching rule (exact name, then the
    name without its frequency as a substring), read here without constructing carbontracker.
    Returns the TDP and where it came from.
    """
    try:
        import carbontracker

        table_path = Path(carbontracker.__file__).parent / "data" / "cpu_power.csv"
        with open(table_path) as handle:
            table = {row["Name"]: _parse_tdp(row["TDP"]) for row in csv.DictReader(handle)}
        table = {name: tdp for name, tdp in table.items() if tdp is not None}
    except Exception:
        return FALLBACK_CPU_TDP_W, f"default {FALLBACK_CPU_TDP_W:g} W (no TDP table)"
    if brand in table:
        return table[brand], f"{brand} {table[brand]:g} W"
    stem = brand.split("@")[0].strip()
    for name, tdp in table.items():
        if stem and stem in name:
            return tdp, f"{name} {tdp:g} W"
    average = sum(table.values()) / len(table)
    return average, f"average of carbontracker's table {average:.1f} W"


def _parse_tdp(text: str) -> float | None:
    """carbontracker's TDP field: ``95``, ``12.5`` or a range written ``33.34.8``."""
    parts = text.split(".")
    try:
        if len(parts) == 3:
            return (float(f"{parts[0]}.{parts[1]}") + float(f"{parts[0]}.{parts[2]}")) / 2
        return float(text)
    except ValueError:
        return None


class TdpEstimateMeter:
    """ESTIMATE: CPU TDP x 50 % x wall time x PUE (carbontracker's generic-CPU rule)."""

    name = "tdp-estimate"

    def __init__(self, pue: float = DEFAULT_PUE, tdp_w: float | None = None) -> None:
        self.pue = pue
        if tdp_w is None:
            tdp_w, source = carbontracker_cpu_tdp(cpu_model_name())
        else:
            source = f"given {tdp_w:g} W"
        self.tdp_w = tdp_w
        self.tdp_source = source
        self._start = 0.0

    def available(self) -> bool:
        return True

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._start
        watts = self.tdp_w * ASSUMED_CPU_UTILISATION
        energy = watts * seconds * self.pue / JOULES_PER_KWH
        detail = (f"estimate, nothing measurable: TDP {self.tdp_source} x "
                  f"{ASSUMED_CPU_UTILISATION:.0%} = {watts:g} W x wall time x PUE {self.pue}")
        return EnergyReading(energy, self.name, detail, self.pue)


#: The fallback chain, first available wins. Add a meter by adding an entry.
ENERGY_METERS: list[Callable[[], EnergyMeter]] = [
    CarbontrackerMeter, NvmlMeter, RaplMeter, TdpEstimateMeter,
]


def list_energy_meters(chain: list[Callable[[], EnergyMeter]] | None = None) -> list[str]:
    """Names of the strategies of ``chain`` (default: :data:`ENERGY_METERS`), in order."""
    return [factory().name for factory in (ENERGY_METERS if chain is None else chain)]


def select_energy_meter(chain: list[Callable[[], EnergyMeter]] | None = None,
                        method: str | None = None) -> EnergyMeter:
    """The first available strategy of ``chain`` (or the one named ``method``)."""
    chain = ENERGY_METERS if chain is None else chain
    for factory in chain:
        meter = factory()
        if method is not None and meter.name != method:
            continue
        if meter.available():
            return meter
    wanted = f" named {method!r}" if method else ""
    raise RuntimeError(f"no available energy meter{wanted} in {list_energy_meters(chain)}")


# ---------------------------------------------------------------------------------------------
# Memory and hardware
# ---------------------------------------------------------------------------------------------

def peak_memory_gb(device: str) -> tuple[float, str]:
    """Peak memory of this process so far: GPU reserved on CUDA, else the CPU's max RSS."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_reserved() / 1e9, "gpu-reserved"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "cpu-rss"


def hardware_name(device: str) -> str:
    """The GPU's name on CUDA, else the CPU model, its logical cores and torch's thread count."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model_name()} ({os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads)"


# ---------------------------------------------------------------------------------------------
# The run meter
# ---------------------------------------------------------------------------------------------

@dataclass
class RunMeter:
    """Measures one run: ``with meter.session(): ... meter.epoch_started() ...``.

    ``summary()`` returns the run-schema columns it owns. ``overhead_s`` is the time spent in
    the meter's own code (strategy selection, counter reads), for the <= 2 % budget.
    """

    device: str = "cpu"
    intensity_g_per_kwh: float = DEFAULT_INTENSITY_G_PER_KWH
    intensity_source: str = DEFAULT_INTENSITY_SOURCE
    method: str | None = None
    chain: list[Callable[[], EnergyMeter]] | None = None
    energy: EnergyReading | None = None
    wall_time_s: float = float("nan")
    epoch_times_s: list[float] = field(default_factory=list)
    infer_time_s: float = float("nan")
    overhead_s: float = 0.0
    meter_name: str = ""
    _epoch_t0: float = 0.0

    @contextlib.contextmanager
    def _own_time(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.overhead_s += time.perf_counter() - start

    @contextlib.contextmanager
    def session(self) -> Iterator[RunMeter]:
        """Measure everything inside the block (energy, wall time, peak memory)."""
        with self._own_time():
            strategy = select_energy_meter(self.chain, self.method)
            self.meter_name = strategy.name
            if self.device.startswith("cuda"):
                import torch

                torch.cuda.reset_peak_memory_stats()
            strategy.start()
        start = time.perf_counter()
        try:
            yield self
        finally:
            self.wall_time_s = time.perf_counter() - start
            with self._own_time():
                self.energy = strategy.stop()

    def epoch_started(self) -> None:
        self._epoch_t0 = time.perf_counter()

    def epoch_ended(self) -> float:
        """Close an epoch; returns its wall time (s)."""
        seconds = time.perf_counter() - self._epoch_t0
        self.epoch_times_s.append(seconds)
        return seconds

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """Time an inference pass over the test split (``infer_time_s``)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.infer_time_s = time.perf_counter() - start

    def summary(self) -> dict[str, object]:
        """The run-schema columns this meter owns, each with its provenance column."""
        if self.energy is None:
            raise RuntimeError("summary() before the metered session ended")
        memory, kind = peak_memory_gb(self.device)
        energy = self.energy.energy_kwh
        if self.energy.co2_g is not None and energy > 0:  # the strategy's own CO2 and intensity
            co2, intensity = self.energy.co2_g, self.energy.co2_g / energy
            source = self.energy.intensity_source or self.energy.method
        else:
            co2, intensity = energy * self.intensity_g_per_kwh, self.intensity_g_per_kwh
            source = self.intensity_source
        return {
            "energy_kwh": energy,
            "energy_method": self.energy.method,
            "co2_g": co2,
            "carbon_intensity_g_per_kwh": intensity,
            "intensity_source": source,
            "pue": self.energy.pue,
            "train_time_s": self.wall_time_s,
            "train_time_scope": "run",
            "infer_time_s": self.infer_time_s,
            "peak_mem_gb": memory,
            "mem_kind": kind,
        }

    def report(self) -> dict[str, object]:
        """Summary plus the details a reader wants to see (method detail, epoch times, overhead)."""
        out = self.summary()
        out.update({
            "energy_detail": self.energy.detail if self.energy else "",
            "epoch_times_s": list(self.epoch_times_s),
            "meter_overhead_s": self.overhead_s,
            "meter_overhead_pct": 100 * self.overhead_s / self.wall_time_s
            if self.wall_time_s > 0 else float("nan"),
        })
        return out
