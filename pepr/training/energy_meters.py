"""The energy meters a run can use, in order of preference: RAPL counters and NVML split by the run's share of the machine, carbontracker, and the Green Algorithms estimate from the run's CPU time and memory (:mod:`pepr.scoring.energy`); and what they read."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    (``scope``, one of :data:`pepr.scoring.energy.ENERGY_SCOPES`)."""

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
        """The run's share of the machine's busy CPU time (:func:`pepr.scoring.energy.cpu_time_share`)."""
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
        """``watts_per_core``: the processor's TDP per core (default :func:`pepr.scoring.energy.cpu_power`
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
