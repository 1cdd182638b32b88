"""Resource meters: wall time, energy, CO2, peak memory and inference time of one run.

One interface, :class:`RunMeter`, measures a training run. Energy comes from the first
available strategy of :data:`ENERGY_METERS` (the fallback chain is data, as in carbontracker's
component table):

1. ``carbontracker`` - when carbontracker finds a component that really measures (NVML for
   NVIDIA GPUs, RAPL for Intel CPUs); its log is read through ``parse_all_logs(...)["actual"]``;
2. ``nvml`` - an NVIDIA GPU's cumulative energy counter read directly through ``pynvml``;
3. ``rapl`` - the kernel's RAPL energy counters under :data:`POWERCAP_ROOT` read directly:
   each top-level ``package-N`` domain and each ``dram`` domain, chosen by the domain's ``name``
   file; ``psys`` (the whole platform, packages included) only when no package domain can be
   read; never ``core`` or ``uncore``, which are parts of their package (summing them with it
   would count the same joules twice). A domain counts only once its counter has been read;
4. ``green-algorithms-estimate`` - nothing measurable: an ESTIMATE from what the run used,
   its CPU time times the processor's power per core plus its memory times a power per GB
   (the Green Algorithms method, :mod:`pepr.energy`).

Whose energy a figure is goes in ``energy_scope`` (:data:`pepr.scoring.energy.ENERGY_SCOPES`): the
estimate is the run's own (``process``); RAPL and a CPU-only carbontracker read device-wide
counters, which are split by the run's share of the machine's busy CPU time
(``process-share``), so runs side by side are not each charged the whole machine; NVML is split
by the GPU's busy time where other processes computed on it (``gpu-share``), else ``device``.
Every meter records the run's CPU time (``cpu_time_s``: the process's and its children's user +
system time).

Every energy figure includes the data-centre PUE (as carbontracker's do) and says so in
``pue``; CO2 is energy times a carbon intensity whose source is recorded. Nothing here touches
the network: carbontracker (which geolocates by IP when constructed) is only constructed when it
has a real component to read, and its CPU component counts as real only when every RAPL counter
that carbontracker would read can be read (its own check only sees that the directory exists,
and where the counters are root-only it records zero power). Every value carries its provenance
(``energy_method``, ``intensity_source``, ``mem_kind``).

Memory, two figures:

- ``peak_mem_gb`` (kind in ``mem_kind``): the process's peak - the CPU's peak resident set
  (``cpu-rss``) or the CUDA allocator's peak reservation (``gpu-reserved``). On the CPU about
  1 GB of it is the interpreter and the imported libraries (torch, timm, pandas), present before
  any model exists, and that share changes with the library versions and the machine, so
  ``peak_mem_gb`` is not comparable across machines or environments; it is kept because the
  release reported it (``memR``).
- ``run_mem_gb``: the run's own share. On the CPU, the peak resident set minus the resident set
  at the baseline (:meth:`RunMeter.mark_memory_baseline`, which the training code calls before
  it builds the model and the data; :meth:`RunMeter.session` marks it at its start otherwise),
  never negative. The process's peak cannot be reset, so where the process peaked higher before
  the baseline (an earlier run in the same process) the figure is an upper bound, which
  ``run_mem_detail`` in :meth:`RunMeter.report` says. On CUDA, the allocator's own peak of
  allocated tensor memory since the session started (``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pepr.core.text import plural
from pepr.training.energy_meters import (
    DEFAULT_INTENSITY_G_PER_KWH,
    DEFAULT_INTENSITY_SOURCE,
    EnergyMeter,
    EnergyReading,
    Usage,
    cpu_model_name,
    machine_busy_cpu_s,
    process_cpu_time_s,
    select_energy_meter,
)

# ---------------------------------------------------------------------------------------------
# Memory and hardware
# ---------------------------------------------------------------------------------------------

def peak_rss_gb() -> float:
    """The process's peak resident set so far (GB), from ``getrusage`` (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _proc_status_rss_gb() -> float | None:
    """The resident set now (GB) from ``VmRSS`` in ``/proc/self/status`` (None without it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e9  # "VmRSS:  123456 kB"
    except (OSError, ValueError, IndexError):
        pass
    return None


#: Where the current resident set is read, first answer wins; the peak (an overestimate of the
#: current figure, so a baseline taken from it errs towards a smaller ``run_mem_gb``) closes it.
RSS_SOURCES: list[Callable[[], float | None]] = [_proc_status_rss_gb, peak_rss_gb]


def current_rss_gb() -> float:
    """The process's resident memory now (GB): ``/proc/self/status``, else the peak so far."""
    for source in RSS_SOURCES:
        value = source()
        if value is not None:
            return value
    return float("nan")


def peak_memory_gb(device: str) -> tuple[float, str]:
    """Peak memory of this process so far: GPU reserved on CUDA, else the CPU's max RSS."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_reserved() / 1e9, "gpu-reserved"
    return peak_rss_gb(), "cpu-rss"


def hardware_name(device: str) -> str:
    """The GPU's name on CUDA, else the CPU model, its logical cores and torch's thread count."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return (f"{cpu_model_name()} ({plural(os.cpu_count() or 1, 'logical CPU')}, "
            f"{plural(torch.get_num_threads(), 'torch thread')})")


# ---------------------------------------------------------------------------------------------
# The run meter
# ---------------------------------------------------------------------------------------------

@dataclass
class RunMeter:
    """Measures one run: ``with meter.session(): ... meter.epoch_started() ...``.

    ``summary()`` returns the run-schema columns it owns. ``overhead_s`` is the time spent in
    the meter's own code (strategy selection, counter reads, the memory baseline), reported as
    ``meter_overhead_pct`` of the wall time (budget: a few percent; ``benchmarks/throughput.py``
    prints it). ``clock`` (seconds, monotonic) is a setting so that tests can account time
    without sleeping. ``memory_baseline_gb`` is the resident set before the run's model and
    data exist (:meth:`mark_memory_baseline`).
    """

    device: str = "cpu"
    intensity_g_per_kwh: float = DEFAULT_INTENSITY_G_PER_KWH
    intensity_source: str = DEFAULT_INTENSITY_SOURCE
    method: str | None = None
    chain: list[Callable[[], EnergyMeter]] | None = None
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False)
    cpu_clock: Callable[[], float] = field(default=process_cpu_time_s, repr=False)
    machine_clock: Callable[[], float] = field(default=machine_busy_cpu_s, repr=False)
    energy: EnergyReading | None = None
    wall_time_s: float = float("nan")
    cpu_time_s: float = float("nan")
    epoch_times_s: list[float] = field(default_factory=list)
    infer_time_s: float = float("nan")
    overhead_s: float = 0.0
    meter_name: str = ""
    memory_baseline_gb: float | None = None
    _peak_rss_at_baseline_gb: float = float("nan")
    _epoch_t0: float = 0.0

    @contextlib.contextmanager
    def _own_time(self) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            self.overhead_s += self.clock() - start

    def mark_memory_baseline(self) -> float:
        """Record the resident set now (GB) as the point the run's own memory starts from.

        Call it before the model and the data are built; :meth:`session` calls it at its start
        when it was not called. Returns the baseline.
        """
        with self._own_time():
            return self._record_memory_baseline()

    def _record_memory_baseline(self) -> float:
        self.memory_baseline_gb = current_rss_gb()
        self._peak_rss_at_baseline_gb = peak_rss_gb()
        return self.memory_baseline_gb

    @contextlib.contextmanager
    def session(self) -> Iterator[RunMeter]:
        """Measure everything inside the block (energy, wall time, peak and run memory)."""
        with self._own_time():
            if self.memory_baseline_gb is None:
                self._record_memory_baseline()
            strategy = select_energy_meter(self.chain, self.method)
            self.meter_name = strategy.name
            if self.device.startswith("cuda"):
                import torch

                torch.cuda.reset_peak_memory_stats()
            strategy.start()
        start, cpu_start, busy_start = self.clock(), self.cpu_clock(), self.machine_clock()
        try:
            yield self
        finally:
            self.wall_time_s = self.clock() - start
            with self._own_time():
                self.cpu_time_s = self.cpu_clock() - cpu_start
                usage = Usage(self.wall_time_s, self.cpu_time_s,
                              self.machine_clock() - busy_start, peak_rss_gb())
                self.energy = strategy.stop(usage)

    def epoch_started(self) -> None:
        self._epoch_t0 = self.clock()

    def epoch_ended(self) -> float:
        """Close an epoch; returns its wall time (s)."""
        seconds = self.clock() - self._epoch_t0
        self.epoch_times_s.append(seconds)
        return seconds

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """Time an inference pass over the test split (``infer_time_s``)."""
        start = self.clock()
        try:
            yield
        finally:
            self.infer_time_s = self.clock() - start

    def run_memory_gb(self, peak_gb: float | None = None) -> float:
        """The run's own memory (GB): on CUDA the allocator's peak of allocated memory since
        the session started; on the CPU the peak resident set (``peak_gb``, default now) above
        :attr:`memory_baseline_gb`, never negative (NaN without a baseline)."""
        if self.device.startswith("cuda"):
            import torch

            return torch.cuda.max_memory_allocated() / 1e9
        if self.memory_baseline_gb is None:
            return float("nan")
        peak_gb = peak_rss_gb() if peak_gb is None else peak_gb
        return max(0.0, peak_gb - self.memory_baseline_gb)

    def _run_memory_detail(self, peak_gb: float) -> str:
        """How ``run_mem_gb`` was obtained, and whether it is exact or an upper bound."""
        if self.device.startswith("cuda"):
            return "torch.cuda.max_memory_allocated since the session started"
        if self.memory_baseline_gb is None:
            return "no memory baseline"
        detail = (f"peak RSS {peak_gb:.3f} GB - RSS at the baseline "
                  f"{self.memory_baseline_gb:.3f} GB")
        if not peak_gb > self._peak_rss_at_baseline_gb:
            detail += ("; upper bound: the process peaked before the baseline and the run did "
                       "not exceed that peak")
        return detail

    def summary(self) -> dict[str, object]:
        """The run-schema columns this meter owns, each with its provenance column."""
        if self.energy is None:
            raise RuntimeError("summary() before the metered session ended")
        memory, kind = peak_memory_gb(self.device)
        kwh = self.energy.energy_kwh
        if self.energy.co2_g is not None and kwh > 0:  # the strategy's own CO2 and intensity
            co2, intensity = self.energy.co2_g, self.energy.co2_g / kwh
            source = self.energy.intensity_source or self.energy.method
        else:
            co2, intensity = kwh * self.intensity_g_per_kwh, self.intensity_g_per_kwh
            source = self.intensity_source
        return {
            "energy_kwh": kwh,
            "energy_method": self.energy.method,
            "energy_scope": self.energy.scope,
            "co2_g": co2,
            "carbon_intensity_g_per_kwh": intensity,
            "intensity_source": source,
            "pue": self.energy.pue,
            "train_time_s": self.wall_time_s,
            "train_time_scope": "run",
            "cpu_time_s": self.cpu_time_s,
            "infer_time_s": self.infer_time_s,
            "peak_mem_gb": memory,
            "mem_kind": kind,
            "run_mem_gb": self.run_memory_gb(memory),
        }

    def report(self) -> dict[str, object]:
        """Summary plus the details a reader wants to see (method detail, epoch times, overhead)."""
        out = self.summary()
        out.update({
            "energy_detail": self.energy.detail if self.energy else "",
            "run_mem_detail": self._run_memory_detail(float(out["peak_mem_gb"])),
            "epoch_times_s": list(self.epoch_times_s),
            "meter_overhead_s": self.overhead_s,
            "meter_overhead_pct": 100 * self.overhead_s / self.wall_time_s
            if self.wall_time_s > 0 else float("nan"),
        })
        return out
