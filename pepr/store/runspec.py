"""One run description: what a run is, the rules its parameters obey, and its identity.

A :class:`RunSpec` is the frozen, validated, normalised description of one run (one cell of a
study's grid). ``pepr run``, ``pepr sweep`` (grid expansion), :func:`pepr.training.train.run` and the
training notebook all build one with :func:`make_run_spec`, so a parameter rule and its message
are written once, in :data:`PARAMETER_CONSTRAINTS` (as scikit-learn's
``_parameter_constraints``).

Normalisation happens here, once: ``pretrained`` becomes False, True or the absolute path of a
checkpoint; ``img_size`` ``"auto"`` becomes the zoo's smallest accepted size; the dataset
becomes its canonical identity (:func:`pepr.data.registry.canonical_dataset`), so one dataset is one
setting however it was named. ``threads`` is how many CPU threads the run computes with: it is
recorded in its own column but is not part of ``run_id`` (the grid cell), so a study keeps its
ids when it is rerun on another machine.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pepr.core.errors import BadParameterError, MissingDataError, UnknownModelError
from pepr.core.text import plural
from pepr.store import results

#: Optimizer names a run may use (:data:`pepr.training.train.OPTIMIZERS` implements each).
OPTIMIZER_NAMES = ("adam", "adamw", "sgd")
#: Validation metrics a run may select on (higher is better for all).
SELECT_METRICS = ("acc", "auc", "balanced_acc")
#: Threads per run unless told otherwise: on a 2-core machine shared with other work, one
#: thread per run was the fastest setting measured (``benchmarks/throughput.py --threads``).
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class Constraint:
    """A rule for one parameter: a test and the phrase that says what is allowed."""

    check: Callable[[object], bool]
    allowed: str


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive_int(value: object) -> bool:
    return _is_int(value) and int(value) >= 1


def _name(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _study_name(value: object) -> bool:
    return _name(value) and "/" not in str(value) and str(value) not in (".", "..")


#: Every run parameter and what it may be; :func:`validate_parameters` checks against it.
PARAMETER_CONSTRAINTS: dict[str, Constraint] = {
    "study": Constraint(_study_name, "a non-empty name without '/'"),
    "model": Constraint(_name, "a zoo or timm model name"),
    "dataset": Constraint(_name, "a registered dataset name or a path"),
    "pretrained": Constraint(lambda v: isinstance(v, (bool, str, Path)),
                             "False, True or a checkpoint path"),
    "data_fraction": Constraint(lambda v: _is_number(v) and 0 < float(v) <= 1,
                                "a number in (0, 1]"),
    "seed": Constraint(lambda v: _is_int(v) and int(v) >= 0, "an integer >= 0"),
    "img_size": Constraint(lambda v: _positive_int(v) or v == "auto",
                           "a positive integer or 'auto'"),
    "epochs": Constraint(_positive_int, "an integer >= 1"),
    "batch_size": Constraint(_positive_int, "an integer >= 1"),
    "lr": Constraint(lambda v: _is_number(v) and float(v) > 0, "a number > 0"),
    "optimizer": Constraint(lambda v: v in OPTIMIZER_NAMES, f"one of {', '.join(OPTIMIZER_NAMES)}"),
    "select_metric": Constraint(lambda v: v in SELECT_METRICS, f"one of {', '.join(SELECT_METRICS)}"),
    "threads": Constraint(_positive_int, "an integer >= 1"),
}

#: A run's defaults: the paper's protocol (:data:`pepr.store.results.PAPER_PROTOCOL`), one thread.
RUN_DEFAULTS: dict[str, object] = {
    "study": "adhoc",
    "pretrained": False,
    "data_fraction": 1.0,
    "seed": 0,
    "img_size": "auto",
    "epochs": results.PAPER_PROTOCOL["epochs"],
    "batch_size": results.PAPER_PROTOCOL["batch_size"],
    "lr": results.PAPER_PROTOCOL["lr"],
    "optimizer": results.PAPER_PROTOCOL["optimizer"],
    "select_metric": "acc",
    "threads": DEFAULT_THREADS,
}


#: The training notebook's parameters beyond a run's: where rows go, the device, whether rows
#: are written and figures drawn. With :data:`RUN_DEFAULTS` and a required model and dataset
#: they are the notebook's ``parameters`` cell (a test keeps the two equal).
NOTEBOOK_PARAMETERS: dict[str, object] = {
    "results_dir": None,  # None: the repository's data/results
    "device": None,  # None: CUDA when available, else the CPU
    "write_results": True,
    "figures": True,
}
#: Parameters without a default: a run names them.
REQUIRED_PARAMETERS = ("model", "dataset")


def notebook_defaults() -> dict[str, object]:
    """The training notebook's parameters and their defaults: ``pepr run``'s (the required
    ``model`` and ``dataset`` are None), then :data:`NOTEBOOK_PARAMETERS`."""
    return {**dict.fromkeys(REQUIRED_PARAMETERS), **RUN_DEFAULTS, **NOTEBOOK_PARAMETERS}


def check_notebook_parameters(defined: Iterable[str], values: Mapping[str, object]) -> None:
    """Refuse what papermill lets through: an injected name that is no parameter (papermill
    only warns, and the run would train with the defaults), a required one left unset, or a
    value outside its parameter's domain (before any data is loaded).

    ``defined`` are the names the notebook's namespace gained from its parameters cell and
    papermill's injected one (names starting with ``_`` are IPython's own); ``values`` the
    namespace. Raises one :class:`BadParameterError` naming the nearest known parameter.
    """
    known = notebook_defaults()
    unknown = sorted(name for name in defined if not name.startswith("_") and name not in known)
    problems = []
    for name in unknown:
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(f"unknown parameter {name!r}{hint}")
    missing = [name for name in REQUIRED_PARAMETERS if values.get(name) is None]
    problems += [f"{name!r} is required (papermill ... -p {name} NAME)" for name in missing]
    problems += domain_problems({name: coerce_text(name, values[name]) for name in known if name in values},
                                shown=values)
    if problems:
        names = f"; known parameters: {', '.join(known)}" if unknown else ""
        raise BadParameterError(f"notebook: {'; '.join(problems)}{names}")


def domain_problems(params: Mapping[str, object], shown: Mapping[str, object] | None = None) -> list[str]:
    """One sentence per parameter of ``params`` outside its domain (:data:`PARAMETER_CONSTRAINTS`),
    naming the value as it was given (``shown``, default ``params``)."""
    shown = params if shown is None else shown
    return [f"{key} must be {PARAMETER_CONSTRAINTS[key].allowed} (got {shown[key]!r})"
            for key, value in params.items()
            if key in PARAMETER_CONSTRAINTS and not PARAMETER_CONSTRAINTS[key].check(value)]


def validate_parameters(params: Mapping[str, object], source: str = "run") -> None:
    """Raise one :class:`BadParameterError` naming every parameter outside its domain."""
    unknown = sorted(set(params) - set(PARAMETER_CONSTRAINTS))
    problems = [f"{plural(len(unknown), 'unknown parameter')}: {', '.join(unknown)}"] if unknown else []
    problems += domain_problems(params)
    if problems:
        raise BadParameterError(f"{source}: " + "; ".join(problems))


def coerce_text(key: str, value: object) -> object:
    """A parameter given as text (command line, papermill) in the type its rule expects.

    Numbers written as text become numbers and ``pretrained`` words become booleans; anything
    that does not parse is left as it is, for :func:`validate_parameters` to name.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if key == "pretrained":
        return normalise_pretrained(text)
    if key in ("seed", "epochs", "batch_size", "threads") or (key == "img_size" and text != "auto"):
        try:
            return int(text)
        except ValueError:
            return value
    if key in ("data_fraction", "lr"):
        try:
            return float(text)
        except ValueError:
            return value
    return value


def normalise_pretrained(value: object) -> object:
    """``pretrained`` as False, True or an absolute checkpoint path (``str``).

    Words from the command line or papermill (``true``, ``no``, ``0`` ...) become booleans; a
    :class:`~pathlib.Path` or any other string is a checkpoint file, made absolute so the same
    file gives the same ``run_id`` from any working directory.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("false", "no", "0", "none", ""):
            return False
        if lowered in ("true", "yes", "1"):
            return True
        return str(Path(value.strip()).expanduser().resolve())
    if value is None:
        return False
    if _is_number(value) and float(value) in (0.0, 1.0):
        return bool(value)
    return value  # validate_parameters names it


@dataclass(frozen=True)
class RunSpec:
    """One run, validated and normalised. Build it with :func:`make_run_spec`."""

    study: str
    model: str
    dataset: str
    pretrained: bool | str
    data_fraction: float
    seed: int
    img_size: int
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    select_metric: str = "acc"
    threads: int = DEFAULT_THREADS

    def identity(self) -> dict[str, object]:
        """The :data:`pepr.store.results.IDENTITY_COLUMNS` of the run (what ``run_id`` hashes)."""
        return {key: getattr(self, key) for key in results.IDENTITY_COLUMNS}

    @property
    def run_id(self) -> str:
        return results.run_id(self.identity())

    @property
    def setting(self) -> str:
        return results.setting_label(self.dataset, self.pretrained, self.data_fraction)

    def cell(self) -> dict[str, object]:
        """Identity, ``run_id`` and ``setting``, plus ``select_metric`` and ``threads``."""
        return {"run_id": self.run_id, **self.identity(), "setting": self.setting,
                "select_metric": self.select_metric, "threads": self.threads}

    def parameters(self) -> dict[str, object]:
        """Every field by name: the keyword arguments that rebuild this spec."""
        return dataclasses.asdict(self)

    @property
    def checkpoint(self) -> Path | None:
        """The local checkpoint file, when ``pretrained`` names one."""
        return Path(self.pretrained) if isinstance(self.pretrained, str) else None


def make_run_spec(model: str, dataset: str, canonical: bool = True,
                  min_img_size: Callable[[str], int] | None = None, **params: object) -> RunSpec:
    """Validate and normalise a run's parameters (defaults: :data:`RUN_DEFAULTS`).

    ``canonical`` resolves the dataset to its canonical identity and ``img_size="auto"`` to the
    zoo's minimum for the model; both look the name up, so an unknown model or dataset raises
    its own error here. Values may be text (the command line, papermill): see
    :func:`coerce_text`. ``None`` means "the default".
    """
    given = {key: value for key, value in params.items() if value is not None}
    values = {**RUN_DEFAULTS, **given, "model": model, "dataset": dataset}
    values = {key: coerce_text(key, value) for key, value in values.items()}
    values["pretrained"] = normalise_pretrained(values["pretrained"])
    validate_parameters(values)
    checkpoint = values["pretrained"]
    if isinstance(checkpoint, str) and not Path(checkpoint).is_file():
        raise MissingDataError(f"pretrained checkpoint {checkpoint} is not a file")
    if canonical:
        from pepr.data import registry

        values["dataset"] = registry.canonical_dataset(str(values["dataset"]))
    values["img_size"] = resolve_img_size(str(values["model"]), values["img_size"], min_img_size)
    for key in ("seed", "epochs", "batch_size", "threads"):
        values[key] = int(values[key])
    values["data_fraction"], values["lr"] = float(values["data_fraction"]), float(values["lr"])
    return RunSpec(**values)


def zoo_min_img_size(model: str) -> int:
    """The smallest input the zoo measured for ``model`` (:func:`pepr.data.zoo.zoo_row`); a
    model outside the zoo needs timm to measure it (:func:`pepr.training.nets.min_img_size`)."""
    from pepr.data import zoo

    row = zoo.zoo_row(model)
    if row is None:
        raise UnknownModelError(f"{model!r} is not in the zoo: its smallest input size is measured "
                                f"by timm (the training side), or give img_size")
    return int(row["min_img_size"])


def resolve_img_size(model: str, img_size: object,
                     min_img_size: Callable[[str], int] | None = None) -> int:
    """``img_size`` as an int; ``"auto"`` is the model's smallest input, by ``min_img_size``
    (default :func:`zoo_min_img_size`: the zoo's models, read from its table)."""
    if img_size == "auto" or img_size is None:
        return int((min_img_size or zoo_min_img_size)(model))
    if not _positive_int(img_size):
        rule = PARAMETER_CONSTRAINTS["img_size"]
        raise BadParameterError(f"img_size must be {rule.allowed} (got {img_size!r})")
    return int(img_size)
