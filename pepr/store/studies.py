"""A study's file (``data/studies/<study>.yml``): its keys checked, its defaults filled, its grid
expanded into one cell per run, and a derived study written. Pure YAML: read by the sweep that
runs a study and by the report that describes it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import yaml

from pepr.core.errors import BadParameterError, StudySpecError
from pepr.store import runspec

#: Keys a study file must hold.
REQUIRED_KEYS = ("study", "models", "datasets")


#: Keys a study file may hold, with their defaults: a run's (:data:`pepr.store.runspec.RUN_DEFAULTS`,
#: the paper's protocol and one thread). Grid keys take a list or a single value; ``img_size``
#: takes an int, ``auto`` or a mapping model -> int|auto (with an optional ``default``).
#: ``max_img_size`` caps the input size: a cell above it is not run but recorded as ``skipped``
#: with the reason. ``grids`` is a list of sub-grids (mappings of grid keys over the top-level
#: values), expanded one after another: a study made of several grids in the order its rows
#: should arrive.
SPEC_DEFAULTS: dict[str, object] = {
    "study": None,
    "models": None,
    "datasets": None,
    "pretrained": [runspec.RUN_DEFAULTS["pretrained"]],
    "data_fractions": [runspec.RUN_DEFAULTS["data_fraction"]],
    "seeds": [runspec.RUN_DEFAULTS["seed"]],
    **{key: runspec.RUN_DEFAULTS[key] for key in
       ("epochs", "img_size", "batch_size", "lr", "optimizer", "select_metric", "threads")},
    "max_img_size": None,
    "grids": None,
    "description": "",
    "notes": "",
    "hardware": "",
}


GRID_KEYS = ("models", "datasets", "pretrained", "data_fractions", "seeds")


#: The run parameter that each value of a grid key is.
GRID_PARAMETER = {"models": "model", "datasets": "dataset", "pretrained": "pretrained",
                  "data_fractions": "data_fraction", "seeds": "seed"}


SCALAR_PARAMETERS = ("epochs", "batch_size", "lr", "optimizer", "select_metric", "threads")


DOC_KEYS = ("description", "notes", "hardware")


# ---------------------------------------------------------------------------------------------
# Specification and grid
# ---------------------------------------------------------------------------------------------

def load_spec(path: Path | str) -> dict[str, object]:
    """Read and validate a study file; unknown keys and missing required keys are errors."""
    path = Path(path)
    if not path.exists():
        raise StudySpecError(f"{path}: no such study file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StudySpecError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise StudySpecError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    return validate_spec(raw, source=str(path))


def validate_spec(raw: Mapping[str, object], source: str = "study") -> dict[str, object]:
    """The spec with defaults filled in; :class:`StudySpecError` names a bad key or value.

    Every value is checked against the run's rules (:data:`pepr.store.runspec.PARAMETER_CONSTRAINTS`),
    so a study file and ``pepr run`` accept and refuse the same values with the same words.
    """
    unknown = sorted(set(raw) - set(SPEC_DEFAULTS))
    if unknown:
        raise StudySpecError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(SPEC_DEFAULTS)}"
        )
    grids = _sub_grids(raw, source)
    missing = [key for key in REQUIRED_KEYS
               if raw.get(key) is None and not (key in GRID_KEYS and grids
                                                and all(key in grid for grid in grids))]
    if missing:
        raise StudySpecError(f"{source}: missing required key(s) {', '.join(missing)}")
    spec = {key: raw.get(key, default) for key, default in SPEC_DEFAULTS.items()}
    spec["grids"] = [{key: _as_list(value) for key, value in grid.items()}
                     for grid in (grids or [{}])]
    for key in GRID_KEYS:
        spec[key] = _as_list(spec[key]) if spec[key] is not None else []
        for grid in spec["grids"]:
            if not grid.get(key, spec[key]):
                raise StudySpecError(f"{source}: {key!r} is empty")
    if spec["max_img_size"] is not None:
        checks_cap = runspec.PARAMETER_CONSTRAINTS["img_size"]
        if spec["max_img_size"] == "auto" or not checks_cap.check(spec["max_img_size"]):
            raise StudySpecError(f"{source}: 'max_img_size' must be a positive integer "
                                 f"(got {spec['max_img_size']!r})")
    size = spec["img_size"]
    sizes = list(size.values()) if isinstance(size, dict) else [size]
    checks = [("study", spec["study"]), *[(key, spec[key]) for key in SCALAR_PARAMETERS],
              *[(GRID_PARAMETER[key], value) for key in GRID_KEYS
                for grid in spec["grids"] for value in grid.get(key, spec[key])],
              *[("img_size", value) for value in sizes]]
    for key, value in checks:
        try:
            runspec.validate_parameters({key: value})
        except BadParameterError as error:
            raise StudySpecError(f"{source}: {str(error).removeprefix('run: ')}") from None
    return spec


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def img_size_for(model: str, img_size: object) -> object:
    """A spec's ``img_size`` for one model (int, ``auto``, or mapping with optional
    ``default``); ``auto`` is resolved by :func:`pepr.store.runspec.make_run_spec`."""
    if isinstance(img_size, dict):
        return img_size.get(model, img_size.get("default", "auto"))
    return img_size


def _sub_grids(raw: Mapping[str, object], source: str) -> list[dict[str, object]]:
    """The study's ``grids`` (a list of mappings of grid keys), checked; [] without any."""
    grids = raw.get("grids")
    if grids is None:
        return []
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise StudySpecError(f"{source}: 'grids' must be a non-empty list of mappings")
    for grid in grids:
        unknown = sorted(set(grid) - set(GRID_KEYS))
        if unknown:
            raise StudySpecError(f"{source}: a grid may only set {', '.join(GRID_KEYS)}; "
                                 f"got {', '.join(map(repr, unknown))}")
    return grids


def expand(spec: Mapping[str, object],
           min_img_size: Callable[[str], int] | None = None) -> list[dict[str, object]]:
    """One cell (:meth:`pepr.store.runspec.RunSpec.cell`) per point of the grid, in run order.

    Sub-grids (``grids``) come one after another; within one, settings are the outer loops
    (dataset, fraction, pretrained, seed) and models the inner one in the order listed, so each
    setting's table fills up model by model before the next starts. A cell that two sub-grids
    share is run once, where it first appears. ``min_img_size`` resolves an ``auto`` size
    (:func:`pepr.store.runspec.resolve_img_size`; the zoo's table by default).
    """
    cells: dict[str, dict[str, object]] = {}
    for grid in spec.get("grids") or [{}]:
        values = {key: grid.get(key, spec[key]) for key in GRID_KEYS}
        for dataset, fraction, pretrained, seed, model in itertools.product(
                values["datasets"], values["data_fractions"], values["pretrained"],
                values["seeds"], values["models"]):
            run = runspec.make_run_spec(
                str(model), str(dataset), study=str(spec["study"]), pretrained=pretrained,
                data_fraction=fraction, seed=seed,
                img_size=img_size_for(str(model), spec["img_size"]), min_img_size=min_img_size,
                **{key: spec[key] for key in SCALAR_PARAMETERS},
            )
            cells.setdefault(run.run_id, run.cell())
    return list(cells.values())


def derive_spec(spec: Mapping[str, object], study: str, datasets: Iterable[str] | None = None,
                **documentation: str) -> dict[str, object]:
    """A loaded study renamed ``study`` and limited to ``datasets`` (every grid keeps only
    those; a grid left without one is dropped): the same runs elsewhere, e.g. on another
    machine, as a study of their own. Its ``description``, ``notes`` and ``hardware`` are
    ``documentation``'s (empty where not given: the source's describe the source).
    :class:`StudySpecError` when nothing of the study is left."""
    unknown = sorted(set(documentation) - set(DOC_KEYS))
    if unknown:
        raise BadParameterError(f"derive_spec: unknown documentation key(s) {unknown}; "
                                f"allowed: {', '.join(DOC_KEYS)}")
    keep = None if datasets is None else [str(name) for name in datasets]
    derived = dict(spec)
    derived.update(study=study, **{key: documentation.get(key, "") for key in DOC_KEYS})
    if keep is not None:
        derived["datasets"] = [d for d in spec["datasets"] if d in keep]
        grids = []
        for grid in spec.get("grids") or [{}]:
            names = [d for d in grid.get("datasets", spec["datasets"]) if d in keep]
            if names:
                grids.append({**grid, "datasets": names})
        if not grids:
            raise StudySpecError(f"{spec['study']}: no grid trains on {', '.join(keep)}")
        derived["grids"] = grids
        if not derived["datasets"]:
            derived["datasets"] = grids[0]["datasets"]
    return validate_spec(derived, source=study)


def write_spec(spec: Mapping[str, object], path: Path | str) -> Path:
    """Write a study (as :func:`validate_spec` returns it) as a study file that loads back to
    the same grid; keys left at their defaults are omitted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {key: value for key, value in spec.items()
            if value != SPEC_DEFAULTS.get(key) and not (key == "grids" and value == [{}])}
    path.write_text(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, width=100))
    return path


def over_size(cell: Mapping[str, object], max_img_size: int | None) -> bool:
    """Whether a cell's input size exceeds the study's cap (it is then not run)."""
    return max_img_size is not None and int(cell["img_size"]) > int(max_img_size)


def spec_of(cell: Mapping[str, object]) -> runspec.RunSpec:
    """The :class:`~pepr.store.runspec.RunSpec` of a cell (its fields, already normalised)."""
    fields = runspec.RunSpec.__dataclass_fields__
    return runspec.RunSpec(**{key: cell[key] for key in fields if key in cell})
