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

Whose energy a figure is goes in ``energy_scope`` (:data:`pepr.energy.ENERGY_SCOPES`): the
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
import importlib.util
import io
import os
import platform
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pepr.scoring import energy

#: carbontracker 2.4's data-centre power usage effectiveness (``constants.PUE_2023``).
DEFAULT_PUE = energy.DEFAULT_PUE
#: carbontracker's world-average carbon intensity (gCO2/kWh), its fallback when offline.
DEFAULT_INTENSITY_G_PER_KWH = 445.0
DEFAULT_INTENSITY_SOURCE = (f"world average {DEFAULT_INTENSITY_G_PER_KWH:g} g/kWh "
                            "(carbontracker's offline default)")
#: Where the kernel exposes its power-capping zones (one flat folder per RAPL domain).
POWERCAP_ROOT = Path("/sys/class/powercap")
#: RAPL domains by folder name: ``intel-rapl:N`` (top level) and ``intel-rapl:N:M`` (its parts).
#: ``intel-rapl-mmio:N`` is left out: it repeats ``package-N`` through another interface.
RAPL_DOMAIN_PATTERN = re.compile(r"intel-rapl:\d+(:\d+)?")
#: What each kind of RAPL domain (its ``name`` file without ``-N``) is to the energy sum:
#: ``summed`` - counted (a package is a CPU socket; dram is the memory beside it, outside it);
#: ``platform`` - the whole system on chip, packages and memory included: counted alone, and
#: only when no package domain can be read; ``part`` - inside a package, never counted.
#: Kinds not listed are never counted.
RAPL_DOMAIN_ROLES: dict[str, str] = {
    "package": "summed", "dram": "summed", "psys": "platform", "core": "part", "uncore": "part",
}
JOULES_PER_KWH = energy.JOULES_PER_KWH


@dataclass
class EnergyReading:
    """Energy of a measured span, how it was obtained (``method``, ``detail``) and whose it is
    (``scope``, one of :data:`pepr.energy.ENERGY_SCOPES`)."""

    energy_kwh: float
    method: str
    detail: str
    pue: float
    co2_g: float | None = None  # when the strategy also reports CO2 (carbontracker)
    intensity_source: str | None = None
    scope: str = "device"


@dataclass(frozen=True)
class Usage:
    """What the run used over the measured span: wall time, its own CPU time (the process's and
    its children's user + system time), the CPU time the whole machine was busy for (every
    process; NaN where unknown) and the process's peak memory (GB)."""

    wall_time_s: float
    cpu_time_s: float
    machine_busy_s: float
    memory_gb: float

    @property
    def cpu_share(self) -> float:
        """The run's share of the machine's busy CPU time (:func:`pepr.energy.cpu_time_share`)."""
        return energy.cpu_time_share(self.cpu_time_s, self.machine_busy_s)


class EnergyMeter(Protocol):
    """A strategy in the fallback chain: report availability, then measure a span."""

    name: str

    def available(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, usage: Usage) -> EnergyReading: ...


def process_cpu_time_s() -> float:
    """This process's and its waited-for children's user + system CPU time so far (s)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def machine_busy_cpu_s() -> float:
    """CPU time the whole machine has been busy so far, all CPUs and processes (s): every
    state but idle and iowait (NaN without psutil)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    fields = [value for name, value in times._asdict().items()
              if name not in ("guest", "guest_nice")]  # guest time is counted in user already
    return sum(fields) - idle


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RaplDomain:
    """One RAPL domain: its powercap folder and the name the kernel gives it (``package-0``)."""

    path: Path
    name: str

    @property
    def kind(self) -> str:
        """``package``, ``dram``, ``psys``, ``core``, ``uncore``, ...: the name without ``-N``."""
        return self.name.split("-")[0]

    @property
    def top_level(self) -> bool:
        """Whether the domain is a top-level one (``intel-rapl:N``), not a part of one."""
        return self.path.name.count(":") == 1

    @property
    def is_package(self) -> bool:
        return self.kind == "package" and self.top_level

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.name})"

    def read_energy_uj(self) -> int | None:
        """The counter (microjoules), or None where it cannot be read (root-only, missing)."""
        try:
            return int((self.path / "energy_uj").read_text())
        except (OSError, ValueError):
            return None


def rapl_domains(root: Path | None = None) -> list[RaplDomain]:
    """Every RAPL domain under ``root`` (default :data:`POWERCAP_ROOT`) that says its name.

    Nothing is read from the counters here; :func:`counted_rapl_domains` decides which count.
    """
    root = POWERCAP_ROOT if root is None else Path(root)
    try:
        folders = sorted(root.iterdir())
    except OSError:
        return []
    domains = []
    for folder in folders:
        if not RAPL_DOMAIN_PATTERN.fullmatch(folder.name):
            continue
        try:
            name = (folder / "name").read_text().strip()
        except OSError:  # a domain that does not say what it is cannot be placed in the sum
            continue
        domains.append(RaplDomain(folder, name))
    return domains


def _rapl_role(domain: RaplDomain) -> str:
    return RAPL_DOMAIN_ROLES.get(domain.kind, "part")


def counted_rapl_domains(root: Path | None = None) -> list[RaplDomain]:
    """The readable RAPL domains whose energies add up without counting a joule twice.

    Top-level packages and dram domains (:data:`RAPL_DOMAIN_ROLES`); without a readable
    package, the platform domain (``psys``) alone; empty when neither can be read (dram alone
    is not the CPU's energy). A domain counts only after its counter has been read.
    """
    readable = [d for d in rapl_domains(root) if d.read_energy_uj() is not None]
    if any(d.is_package for d in readable):
        return [d for d in readable
                if _rapl_role(d) == "summed" and (d.is_package or d.kind != "package")]
    return [d for d in readable if _rapl_role(d) == "platform"]


class RaplMeter:
    """CPU energy from the kernel's RAPL counters (:func:`counted_rapl_domains`), wrap-around
    handled through each domain's ``max_energy_range_uj``."""

    name = "rapl"

    def __init__(self, pue: float = DEFAULT_PUE, root: Path | None = None) -> None:
        """``root``: the powercap folder (default :data:`POWERCAP_ROOT`, read when used)."""
        self.pue = pue
        self.root = root
        self._start: dict[RaplDomain, int] = {}

    def available(self) -> bool:
        return bool(counted_rapl_domains(self.root))

    def _read(self, domains: list[RaplDomain]) -> dict[RaplDomain, int]:
        readings = {domain: domain.read_energy_uj() for domain in domains}
        return {domain: value for domain, value in readings.items() if value is not None}

    def start(self) -> None:
        self._start = self._read(counted_rapl_domains(self.root))

    def stop(self, usage: Usage) -> EnergyReading:
        """The counters' joules over the span times the run's share of the busy CPU time."""
        end = self._read(list(self._start))
        joules = sum(_rapl_delta_uj(domain, before, end.get(domain, before))
                     for domain, before in self._start.items()) / 1e6
        lost = [domain.label for domain in self._start if domain not in end]
        share = usage.cpu_share
        detail = (f"RAPL {' + '.join(d.label for d in self._start) or 'no domain'}"
                  f" x the run's share of busy CPU time {share:.3f} x PUE {self.pue}")
        if lost:
            detail += f"; unreadable at the end, counted as 0: {', '.join(lost)}"
        return EnergyReading(joules * share * self.pue / JOULES_PER_KWH, self.name, detail,
                             self.pue, scope="process-share")


def _rapl_delta_uj(domain: RaplDomain, before: int, after: int) -> int:
    """Microjoules between two readings of ``domain``'s counter, which wraps at its range."""
    if after < before:  # the counter wrapped
        after += int((domain.path / "max_energy_range_uj").read_text())
    return after - before


class NvmlMeter:
    """GPU energy from NVML's cumulative counter (Volta and later), all visible GPUs."""

    name = "nvml"

    def __init__(self, pue: float = DEFAULT_PUE) -> None:
        self.pue = pue
        self._start: list[int] = []
        self._started_us = 0

    def available(self) -> bool:
        """Whether every visible GPU has an energy counter; NVML is shut down after probing."""
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no library or no driver
            return False
        try:
            handles = self._handles()
            for handle in handles:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            return bool(handles)
        except Exception:  # no GPU or no counter
            return False
        finally:
            pynvml.nvmlShutdown()

    @staticmethod
    def _handles() -> list:
        import pynvml

        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def _read(self) -> list[int]:
        import pynvml

        return [pynvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles()]

    def start(self) -> None:
        """Open NVML for the span (it is reference-counted; :meth:`stop` closes it)."""
        import pynvml

        pynvml.nvmlInit()
        self._start = self._read()
        self._started_us = int(time.time() * 1e6)

    def stop(self, usage: Usage) -> EnergyReading:
        """The counters' energy over the span; where other processes computed on the GPUs too,
        times this process's share of their busy time (:func:`gpu_time_share`)."""
        import pynvml

        try:
            end = self._read()
            share, how = gpu_time_share(self._handles(), os.getpid(), self._started_us)
        finally:
            pynvml.nvmlShutdown()
        millijoules = sum(after - before for before, after in zip(self._start, end))
        scope = "device" if share is None else "gpu-share"
        return EnergyReading(millijoules / 1e3 * (share or 1.0) * self.pue / JOULES_PER_KWH,
                             self.name, f"NVML energy counter, {len(self._start)} GPU(s){how} "
                                        f"x PUE {self.pue}", self.pue, scope=scope)


def gpu_time_share(handles: list, pid: int, since_us: int) -> tuple[float | None, str]:
    """This process's share of the GPUs' busy time since ``since_us`` (NVML's clock, µs), and
    a phrase saying how it was found; None when no other process computed on them (the whole
    counter is the run's). The share is the sum of this process's SM-utilisation samples over
    everyone's (``nvmlDeviceGetProcessUtilization``); where NVML cannot say, the counter stays
    whole and the phrase says so."""
    import pynvml

    others = {proc.pid for handle in handles
              for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)} - {pid}
    if not others:
        return None, ""
    try:
        samples = [sample for handle in handles
                   for sample in pynvml.nvmlDeviceGetProcessUtilization(handle, since_us)]
    except Exception:  # not supported on this GPU or driver
        return None, (f"; {len(others)} other process(es) computed on the GPU(s) and NVML "
                      f"could not split their use: the whole counter is charged")
    total = sum(sample.smUtil for sample in samples)
    mine = sum(sample.smUtil for sample in samples if sample.pid == pid)
    share = mine / total if total > 0 else 1.0
    return share, (f" x the run's share of SM time {share:.3f} (beside {len(others)} other "
                   f"process(es))")


def _carbontracker_rapl_dir() -> Path | None:
    """The powercap folder carbontracker's Intel CPU component reads (None: no carbontracker)."""
    try:
        from carbontracker.components.cpu import intel
    except Exception:
        return None
    return Path(intel.RAPL_DIR)


def carbontracker_reads_rapl(root: Path | None = None) -> bool:
    """Whether carbontracker's Intel CPU component would measure, not record zero.

    carbontracker reads the ``energy_uj`` of every RAPL domain whose name says ``package`` or
    ``dram`` under its ``RAPL_DIR`` and gives up on all of them when one read fails, while its
    ``available()`` only checks that the folder is not empty. So: a package domain among them
    and every one of them readable. ``root`` defaults to carbontracker's own ``RAPL_DIR``.
    """
    root = _carbontracker_rapl_dir() if root is None else root
    if root is None:
        return False
    read = [d for d in rapl_domains(root) if d.kind in ("package", "dram")]
    return (any(d.is_package for d in read)
            and all(d.read_energy_uj() is not None for d in read))


def _carbontracker_measuring_components() -> list[str]:
    """Components for which carbontracker would measure (not estimate): ``gpu``, ``cpu``."""
    if importlib.util.find_spec("carbontracker") is None:
        return []
    found = []
    if carbontracker_reads_rapl():
        found.append("cpu")
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

    def stop(self, usage: Usage) -> EnergyReading:
        """carbontracker's figure; where it read the CPU's counters alone (RAPL, device-wide),
        times the run's share of the busy CPU time. A reading that includes a GPU stays whole
        (``device``), as do simulated components (nothing else draws from them)."""
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
            kwh = float(actual["energy (kWh)"])
            co2 = actual.get("co2eq (g)")
        finally:
            shutil.rmtree(self._log_dir, ignore_errors=True)
        simulated = "sim_cpu" in self.tracker_kwargs or "sim_gpu" in self.tracker_kwargs
        share, scope, how = 1.0, "device", ""
        if self._components == ["cpu"] and not simulated:
            share, scope = usage.cpu_share, "process-share"
            how = f" x the run's share of busy CPU time {share:.3f}"
        return EnergyReading(kwh * share, self.name,
                             f"carbontracker components {self._components}{how} "
                             f"(includes its PUE)",
                             self.pue, co2_g=None if co2 is None else float(co2) * share,
                             intensity_source="carbontracker (its live intensity, or its default "
                                              "world average when offline)", scope=scope)


def cpu_model_name() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class UsageEstimateMeter:
    """ESTIMATE from what the run used: its CPU time and memory (:mod:`pepr.energy`, the
    Green Algorithms method), for a machine without readable counters."""

    name = energy.ESTIMATE_METHOD

    def __init__(self, pue: float = DEFAULT_PUE, watts_per_core: float | None = None) -> None:
        """``watts_per_core``: the processor's TDP per core (default :func:`pepr.energy.cpu_power`
        of this machine's processor)."""
        self.pue = pue
        if watts_per_core is None:
            self.power = energy.cpu_power(cpu_model_name())
        else:
            self.power = energy.CpuPower(watts_per_core, f"given {watts_per_core:g} W per core")

    def available(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self, usage: Usage) -> EnergyReading:
        kwh = energy.estimate_energy_kwh(usage.cpu_time_s, usage.wall_time_s, usage.memory_gb,
                                         self.power.watts_per_core, self.pue)
        return EnergyReading(kwh, self.name, energy.estimate_detail(self.power, self.pue),
                             self.pue, scope="process")


#: The fallback chain, first available wins. Add a meter by adding an entry.
ENERGY_METERS: list[Callable[[], EnergyMeter]] = [
    CarbontrackerMeter, NvmlMeter, RaplMeter, UsageEstimateMeter,
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
    return f"{cpu_model_name()} ({os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads)"


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
