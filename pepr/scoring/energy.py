"""A run's own energy where nothing measures it: the Green Algorithms estimate, and the
split of a device-wide counter between the runs that shared the device.

Pure arithmetic and constants (no torch, no counters), so the training side's meters, the
results upgrade and the book all use one rule, written once here.

**The estimate** (Lannelongue, Grealey and Inouye, "Green Algorithms: Quantifying the Carbon
Footprint of Computation", Adv. Sci. 2021, doi:10.1002/advs.202100707): a job's power is the
cores it kept busy times the power of one core, plus the power of the memory it held, times the
data centre's PUE::

    energy_kWh = (cpu_time_s x W_per_core + wall_time_s x memory_GB x W_per_GB) x PUE / 3.6e6

where ``cpu_time_s / wall_time_s`` is the cores used (the method's "number of cores x usage
factor"), ``W_per_core`` the processor's TDP over its core count (:func:`cpu_power`) and
``W_per_GB`` = :data:`MEMORY_W_PER_GB`. Two single-thread runs side by side on two cores are
then each charged one core, and one run using both cores twice that: the machine's power is
counted once, shared by what each run used, where the earlier rule (half the CPU's TDP for
every run's whole wall time, carbontracker's generic-CPU fallback) charged every overlapping
run as if it owned the machine.

**The split** (:func:`cpu_time_share`): a device-wide counter (RAPL, NVML) read over a run
includes what other processes drew meanwhile; the run is charged the counter times its share
of the busy CPU time (``process-share``), or of the GPU's busy time (``gpu-share``).

``energy_scope`` (a column of every row) says which of :data:`ENERGY_SCOPES` a figure is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

JOULES_PER_KWH = 3.6e6
#: carbontracker 2.4's data-centre power usage effectiveness (``constants.PUE_2023``), used
#: by every meter here so that estimates and measurements carry the same overhead.
DEFAULT_PUE = 1.58
#: Green Algorithms' power draw of memory: 0.3725 W per GB held (Lannelongue et al. 2021, from
#: the power of DDR4 modules at load).
MEMORY_W_PER_GB = 0.3725
#: The label of an estimate in ``energy_method``.
ESTIMATE_METHOD = "green-algorithms-estimate"
#: A user's own figure for their processor, in W per core (TDP / cores), which wins over
#: :data:`CPU_POWER`: ``PEPR_CPU_WATTS_PER_CORE=10.4 pepr run ...``.
WATTS_PER_CORE_ENV = "PEPR_CPU_WATTS_PER_CORE"

#: What an ``energy_scope`` says about whose energy a figure is.
ENERGY_SCOPES: dict[str, str] = {
    "process": "estimated from the run's own CPU time and memory (Green Algorithms)",
    "process-assumed": ("estimated from the run's thread count and memory (Green Algorithms), "
                        "its CPU time not recorded: each thread assumed to keep one core busy"),
    "process-share": "a device-wide counter times the run's share of the machine's busy CPU time",
    "gpu-share": "a GPU's energy counter times the run's share of the GPU's busy time",
    "device": "a device-wide counter, not split (nothing else ran, or it could not be split)",
    "imported": "as the official release recorded it",
}


@dataclass(frozen=True)
class CpuPower:
    """A processor's power per core and where that figure came from."""

    watts_per_core: float
    source: str


#: Green Algorithms' processor table (``data/latest/TDP_cpu.csv`` of the Green Algorithms tool:
#: model, TDP, cores, TDP per core), for the processors this project's machines report, and its
#: default for a processor it does not list (``Any``: 12 W per core).
GREEN_ALGORITHMS_CPUS: dict[str, tuple[float, int]] = {"AMD EPYC 7251": (120.0, 8)}
GREEN_ALGORITHMS_ANY_W_PER_CORE = 12.0
#: Processor names that say only the family (a virtual machine's ``/proc/cpuinfo``), and the
#: part assumed for each, with why.
AMBIGUOUS_CPU_NAMES: dict[str, tuple[str, str]] = {
    "AMD EPYC": ("AMD EPYC 7251",
                 "the name gives only the family; assumed the 8-core, 120 W EPYC 7251 of Green "
                 "Algorithms' table (the 120 W that carbontracker's table also assumes for "
                 "'AMD EPYC'; a first-generation EPYC, as CPU family 23 model 1 in "
                 "/proc/cpuinfo reports)"),
}


def cpu_power(brand: str, environ: dict[str, str] | None = None) -> CpuPower:
    """Watts per core of the processor named ``brand`` (``/proc/cpuinfo``'s model name).

    In order: the user's figure (:data:`WATTS_PER_CORE_ENV`); the processor's entry in
    :data:`GREEN_ALGORITHMS_CPUS`; the part assumed for a family name
    (:data:`AMBIGUOUS_CPU_NAMES`); Green Algorithms' default for any other processor.
    """
    environ = os.environ if environ is None else environ
    given = environ.get(WATTS_PER_CORE_ENV)
    if given:
        try:
            watts = float(given)
        except ValueError:
            raise ValueError(f"{WATTS_PER_CORE_ENV} must be a number of watts per core "
                             f"(got {given!r})") from None
        return CpuPower(watts, f"{watts:g} W per core from {WATTS_PER_CORE_ENV}")
    name, assumption = brand.strip(), ""
    if name in AMBIGUOUS_CPU_NAMES:
        name, assumption = AMBIGUOUS_CPU_NAMES[name]
        assumption = f"; '{brand.strip()}': {assumption}"
    if name in GREEN_ALGORITHMS_CPUS:
        tdp_w, cores = GREEN_ALGORITHMS_CPUS[name]
        return CpuPower(tdp_w / cores, f"{name}: TDP {tdp_w:g} W / {cores} cores = "
                                       f"{tdp_w / cores:g} W per core (Green Algorithms' "
                                       f"processor table){assumption}")
    return CpuPower(GREEN_ALGORITHMS_ANY_W_PER_CORE,
                    f"'{brand.strip()}' is not in Green Algorithms' processor table: its default "
                    f"{GREEN_ALGORITHMS_ANY_W_PER_CORE:g} W per core")


def estimate_energy_kwh(cpu_time_s: float, wall_time_s: float, memory_gb: float,
                        watts_per_core: float, pue: float = DEFAULT_PUE) -> float:
    """The Green Algorithms estimate of one run's energy (kWh, PUE included).

    ``cpu_time_s`` is the run's user + system CPU time (the cores it kept busy, integrated over
    the run), ``memory_gb`` the memory it held for ``wall_time_s``.
    """
    if min(cpu_time_s, wall_time_s, memory_gb, watts_per_core, pue) < 0:
        raise ValueError("times, memory, power and PUE must not be negative")
    joules = cpu_time_s * watts_per_core + wall_time_s * memory_gb * MEMORY_W_PER_GB
    return joules * pue / JOULES_PER_KWH


def estimate_detail(power: CpuPower, pue: float, cores_assumed: float | None = None) -> str:
    """How an estimate was made, every constant named (the meter's ``energy_detail``)."""
    cores = ("CPU time" if cores_assumed is None
             else f"{cores_assumed:g} {'core' if cores_assumed == 1 else 'cores'} x wall time "
                  f"(assumed: one busy core per thread)")
    return (f"estimate, nothing measurable (Green Algorithms, Lannelongue et al. 2021): "
            f"{cores} x {power.watts_per_core:g} W per core [{power.source}] + peak memory x "
            f"{MEMORY_W_PER_GB} W/GB x wall time, x PUE {pue:g}")


def cpu_time_share(run_cpu_s: float, machine_busy_s: float) -> float:
    """The run's share of the CPU time the whole machine was busy for over the run, in [0, 1].

    1 when the machine's busy time is not above the run's (the run alone, or counters too
    coarse to tell), so a run alone is charged the whole counter.
    """
    if not machine_busy_s > 0 or run_cpu_s >= machine_busy_s:
        return 1.0
    return max(0.0, run_cpu_s / machine_busy_s)
