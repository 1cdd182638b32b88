"""The zoo's models as timm builds them: names resolved through timm, models created (pretrained weights from a local file or the hub), their input sizes probed, parameters and FLOPs counted, and the zoo table measured."""

from __future__ import annotations

import difflib
import functools
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pepr.core.errors import (
    BadParameterError,
    CorruptDataError,
    IncompatibleInputError,
    MissingDataError,
    MissingDependencyError,
    UnknownModelError,
    require_training_stack,
)

if TYPE_CHECKING:
    import torch
from pepr.data.zoo import (
    EXTRA_RENAMES,
    ZOO_COLUMNS,
    _zoo_rows,
    architecture,
    paper_models,
    zoo_row,
)

#: Input sizes probed for every zoo model (in_chans=1, num_classes=2), smallest first; 256 is
#: there for the halo/bottleneck-attention models that take nothing smaller.
PROBE_SIZES: tuple[int, ...] = (28, 32, 64, 96, 128, 224, 256)


PROBE_IN_CHANS = 1


PROBE_NUM_CLASSES = 2


PROBE_BATCH = 2


#: What a model raises when it cannot take an input size (in its constructor or forward pass).
INPUT_ERRORS = (RuntimeError, AssertionError, ValueError, IndexError, ZeroDivisionError)


# -- names --------------------------------------------------------------------------------------


def timm_name_for(paper_name: str) -> tuple[str, str]:
    """``(timm_name, renamed_by)`` for a name: itself, timm's deprecation alias, or our rename.

    Asks timm (:class:`MissingDependencyError` in the book-only install, which has no timm)."""
    if paper_name in EXTRA_RENAMES:
        return EXTRA_RENAMES[paper_name], "pepr (same architecture, no alias in timm 1.0)"
    require_training_stack(f"model name {paper_name!r} (not in the zoo)", ("timm",))
    from timm.models import get_deprecated_models, is_model

    deprecated = get_deprecated_models()
    if paper_name in deprecated:
        return deprecated[paper_name], "timm deprecation alias"
    if is_model(paper_name):
        return paper_name, ""
    raise UnknownModelError(f"{paper_name!r} is not a timm model and has no known rename")


def pretrained_tag(timm_name: str) -> str:
    """The pretrained tag of a timm name: its own (``resnet34.gluon_in1k`` -> ``gluon_in1k``),
    else the one timm loads by default (``efficientnet_b0`` -> ``ra_in1k``); ``""`` when timm
    has no pretrained weights for it. Stored in the zoo, so the book resolves ImageNet names
    without timm."""
    if "." in timm_name:
        return timm_name.split(".", 1)[1]
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    return "" if cfg is None else (cfg.tag or "")


def family_of(timm_name: str) -> str:
    """The timm module that defines an architecture (``resnet``, ``vision_transformer``, ...)."""
    from timm.models import model_entrypoint

    return model_entrypoint(architecture(timm_name)).__module__.rsplit(".", 1)[-1]


def resolve_model_name(name: str) -> str:
    """The timm name to build for a zoo name, a timm name, or a deprecated timm name."""
    zoo = _zoo_rows()
    if name in zoo:
        return str(zoo[name]["timm_name"])
    try:
        return timm_name_for(name)[0]
    except UnknownModelError:
        raise UnknownModelError(_unknown_model_message(name, list(zoo))) from None


def _unknown_model_message(name: str, zoo_names: list[str]) -> str:
    """The error for an unknown name, with the closest zoo and timm names as a hint."""
    import timm

    timm_names = timm.list_models()
    candidates = list(dict.fromkeys([*zoo_names, *timm_names]))  # zoo first, no repeats
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (f"unknown model {name!r}{hint} (the zoo has {len(zoo_names)} models: `pepr zoo`; any "
            f"of timm's {len(timm_names)} architectures also works)")


def zoo_row_for(name: str) -> dict[str, Any] | None:
    """The zoo row of a model by any name timm knows it by: :func:`pepr.data.zoo.zoo_row`, else
    the row of the timm name it resolves to (timm's deprecation alias); ``None`` outside the
    zoo (or for a name timm does not know), and without timm for a name the zoo does not hold."""
    row = zoo_row(name)
    if row is not None or not _zoo_rows():
        return row
    try:
        timm_name = timm_name_for(name)[0]
    except (UnknownModelError, MissingDependencyError):
        return None
    return zoo_row(timm_name)


def min_img_size(name: str) -> int:
    """The smallest input a model takes: the zoo's, or measured now for a timm model outside it."""
    return int(get_model_info(name)["min_img_size"])


def get_model_info(name: str) -> dict[str, Any]:
    """A zoo row as a dict; for a timm model outside the zoo, the same fields measured now."""
    row = zoo_row_for(name)
    return row if row is not None else dict(_describe_outside_zoo(name))


@functools.lru_cache(maxsize=64)
def _describe_outside_zoo(name: str) -> dict[str, Any]:
    """Measured once per process: probing the input sizes takes a second or two."""
    return describe_model(name, paper_row=None)


# -- the factory --------------------------------------------------------------------------------


def create_model(
    name: str,
    num_classes: int,
    in_chans: int = 3,
    img_size: int = 224,
    pretrained: bool | str | Path = False,
    check: bool = True,
    **kwargs: Any,
) -> "torch.nn.Module":
    """A timm model for ``num_classes`` outputs at ``in_chans`` x ``img_size`` x ``img_size``.

    ``name`` is a zoo (paper) name or any timm name. ``pretrained``: ``False`` (random init),
    ``True`` (timm's hub weights; needs the internet or a filled hub cache), or the path of a
    local checkpoint (``.safetensors``, or a ``torch.save`` file read with ``weights_only=True``).
    Pretrained weights go through timm's loader: a classifier of another size is dropped (and
    re-initialised), the stem is adapted to ``in_chans``, position embeddings to ``img_size``.
    Fixed-size models (ViTs, ...) get ``img_size=`` passed. ``check`` runs one forward pass of a
    tiny batch and turns a size failure into :class:`IncompatibleInputError`.
    """
    import timm

    _check_positive(num_classes=num_classes, in_chans=in_chans, img_size=img_size)
    timm_name = resolve_model_name(name)
    build_kwargs = dict(num_classes=num_classes, in_chans=in_chans, **kwargs)
    if _passes_img_size(name, timm_name):
        build_kwargs["img_size"] = img_size
    if isinstance(pretrained, (str, Path)) and not isinstance(pretrained, bool):
        build_kwargs.update(_checkpoint_overlay(timm_name, Path(pretrained)))
        pretrained = True
    elif pretrained is True:
        build_kwargs.update(_hub_overlay(timm_name, name))
    elif pretrained is not False:
        raise BadParameterError(f"pretrained must be True, False or a checkpoint path, "
                                f"not {pretrained!r}")
    model = _build(timm, timm_name, bool(pretrained), build_kwargs, name)
    if check:
        check_input(model, in_chans, img_size, name=name)
    return model


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise BadParameterError(f"{key} must be a positive integer, not {value!r}")


def _passes_img_size(name: str, timm_name: str) -> bool:
    """Whether to give ``img_size=`` to the constructor: the zoo says so, or it is fixed-size."""
    row = zoo_row_for(name)
    if row is not None:
        return bool(row["needs_img_size_arg"])
    return _is_fixed_size(timm_name)


def _is_fixed_size(timm_name: str) -> bool:
    """Whether timm's pretrained config says the model only takes its own input size."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    return bool(cfg is not None and cfg.fixed_input_size)


def _build(timm: Any, timm_name: str, pretrained: bool, build_kwargs: dict[str, Any],
           name: str) -> "torch.nn.Module":
    """``timm.create_model`` with its failures turned into the compendium's typed errors."""
    try:
        return timm.create_model(timm_name, pretrained=pretrained, **build_kwargs)
    except TypeError as error:
        if "img_size" in str(error) and "img_size" in build_kwargs:
            retry = {k: v for k, v in build_kwargs.items() if k != "img_size"}
            return _build(timm, timm_name, pretrained, retry, name)
        raise
    except (OSError, ConnectionError, TimeoutError) as error:
        if not pretrained or "pretrained_cfg_overlay" in build_kwargs:
            raise
        raise MissingDataError(
            f"pretrained weights of {name!r} ({timm_name}) could not be fetched from timm's hub "
            f"({type(error).__name__}: {_first_line(error)}); offline, pass a local checkpoint "
            f"path instead: create_model({name!r}, ..., pretrained='path/to/weights.safetensors')"
        ) from error
    except INPUT_ERRORS as error:
        if pretrained and "No pretrained weights exist" in str(error):
            raise BadParameterError(f"timm has no pretrained weights for {timm_name!r}; "
                                    f"pass a local checkpoint path or pretrained=False") from error
        if "img_size" in build_kwargs:  # e.g. relative position tables too small to exist
            size = build_kwargs["img_size"]
            raise IncompatibleInputError(
                f"model {name!r} cannot be built for {size}x{size} inputs "
                f"({type(error).__name__}: {_first_line(error)}){_accepted_hint(name)}"
            ) from error
        raise


HUB_HOST = "huggingface.co"


HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def _hub_overlay(timm_name: str, name: str) -> dict[str, Any]:
    """Use hub weights already in the local Hugging Face cache; fail fast when the hub is out
    of reach (huggingface_hub would otherwise retry for about a minute before giving up)."""
    cached = _cached_hub_file(timm_name)
    if cached is not None:
        return {"pretrained_cfg_overlay": {"file": str(cached), "source": ""}}
    if not _hub_reachable():
        raise MissingDataError(
            f"pretrained weights of {name!r} ({timm_name}) are not in the local Hugging Face "
            f"cache and {HUB_HOST} cannot be reached; offline, pass a local checkpoint path "
            f"instead: create_model({name!r}, ..., pretrained='path/to/weights.safetensors')"
        )
    return {}


def _cached_hub_file(timm_name: str) -> Path | None:
    """The weights file of ``timm_name`` in the Hugging Face cache, if it was downloaded before."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm_name)
    repo = cfg.hf_hub_id if cfg is not None else None
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # timm works without the hub client; then nothing is cached either
        return None

    for filename in ((cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_FILES):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the hub's host name resolves and accepts a TCP connection (checked on demand)."""
    import socket

    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def load_checkpoint(path: Path) -> dict[str, "torch.Tensor"]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file (``weights_only=True``).

    Wrappers that training scripts commonly write (``{"state_dict": ...}``, ``{"model": ...}``)
    are unwrapped, and a ``module.`` prefix from DataParallel is removed.
    """
    import torch

    if not path.is_file():
        raise MissingDataError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and pickle raise many types for a bad file
        raise CorruptDataError(f"{path}: cannot be read as a checkpoint "
                               f"({type(error).__name__}: {_first_line(error)})") from error
    for key in ("state_dict", "model", "model_state_dict", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptDataError(f"{path}: holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _checkpoint_overlay(timm_name: str, path: Path) -> dict[str, Any]:
    """``pretrained_cfg_overlay`` that makes timm load ``path`` and adapt head and stem.

    timm decides whether to drop the classifier and adapt the stem by comparing the requested
    ``num_classes``/``in_chans`` with the *pretrained config's*; for a local checkpoint those are
    read from the checkpoint's own tensors, so a 2-class checkpoint loads into a 2-class model
    intact and into a 5-class model without its head.
    """
    from timm.models import get_pretrained_cfg

    state = load_checkpoint(path)
    cfg = get_pretrained_cfg(timm_name)
    cfg_dict = cfg.to_dict() if cfg is not None else {}
    overlay: dict[str, Any] = {"state_dict": state, "source": "", "hf_hub_id": None, "url": ""}
    head = _named_weight(state, cfg_dict, "classifier")
    if head is not None:
        overlay["num_classes"] = int(head.shape[0])
    stem = _named_weight(state, cfg_dict, "first_conv")
    if stem is not None and stem.ndim == 4:
        size = tuple(cfg_dict.get("input_size") or (3, 224, 224))
        overlay["input_size"] = (int(stem.shape[1]), *size[1:])
    return {"pretrained_cfg_overlay": overlay}


def _named_weight(state: dict[str, "torch.Tensor"], cfg_dict: dict[str, Any],
                  key: str) -> "torch.Tensor | None":
    """The checkpoint's weight of the first module that the pretrained config names under
    ``key`` (``classifier`` or ``first_conv``: a name or a tuple of names), if it holds one."""
    names = cfg_dict.get(key) or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return next((state[f"{n}.weight"] for n in names if f"{n}.weight" in state), None)


# -- measuring ----------------------------------------------------------------------------------


def count_params(model: "torch.nn.Module") -> int:
    """Number of parameters (trainable or not), as the paper counts them."""
    return int(sum(p.numel() for p in model.parameters()))


def _probe_batch(model: "torch.nn.Module", in_chans: int, img_size: int,
                 batch: int = PROBE_BATCH) -> "torch.Tensor":
    import torch

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    return torch.zeros(batch, in_chans, img_size, img_size, device=device,
                       dtype=dtype or torch.float32)


def traceless_forward(model: "torch.nn.Module", x: "torch.Tensor") -> "torch.Tensor":
    """A forward pass that leaves no trace: eval mode (no BatchNorm statistics updated, no
    dropout drawing from the global random generator), no gradients, mode restored after."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def check_input(model: "torch.nn.Module", in_chans: int, img_size: int,
                name: str | None = None, count_flops: bool = False) -> int | None:
    """Run one forward pass of a tiny batch; :class:`IncompatibleInputError` if it fails.

    With ``count_flops`` the check is :func:`flops_per_image`'s counted pass of one image, and its
    FLOPs are returned, so a run needs one forward pass for both. Only when that pass fails does
    the plain check run, to tell a size the model cannot take (the error) from a failure of the
    counter (None: FLOPs are informative, never a reason to fail a run).
    """
    if count_flops:
        try:
            return flops_per_image(model, in_chans, img_size)
        except Exception:  # noqa: BLE001 - the plain pass below decides what it was
            pass
    x = _probe_batch(model, in_chans, img_size)
    try:
        traceless_forward(model, x)
    except INPUT_ERRORS as error:
        label = name or type(model).__name__
        raise IncompatibleInputError(
            f"model {label!r} cannot take {in_chans}x{img_size}x{img_size} inputs "
            f"({type(error).__name__}: {_first_line(error)}){_accepted_hint(name)}"
        ) from error
    return None


def _accepted_hint(name: str | None) -> str:
    """"; it accepts ... px" from the zoo table, or nothing for a model outside the zoo."""
    row = zoo_row_for(name) if name else None
    if row is None:
        return ""
    return f"; it accepts {row['accepted_img_sizes']} px among the probed sizes (data/zoo.csv)"


def flops_per_image(model: "torch.nn.Module", in_chans: int, img_size: int) -> int:
    """Forward FLOPs for one image (batch 1), counted by ``torch.utils.flop_counter``.

    The counter covers the operations torch knows a formula for (convolutions, matrix
    products, attention); element-wise operations are not counted, and a multiply-add counts 2.
    It works on meta-device models too, so the zoo measures it without computing anything.
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = _probe_batch(model, in_chans, img_size, batch=1)
    try:
        with FlopCounterMode(display=False) as counter:
            traceless_forward(model, x)
    except INPUT_ERRORS as error:
        raise IncompatibleInputError(
            f"cannot count FLOPs at {in_chans}x{img_size}x{img_size}: {_first_line(error)}"
        ) from error
    return int(counter.get_total_flops())


def _first_line(error: BaseException) -> str:
    """The first line of an error's message; for a bare ``assert``, the failing source line."""
    import traceback

    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    frames = traceback.extract_tb(error.__traceback__)
    outside_torch = [f for f in frames if "torch" not in Path(f.filename).parts[:-1]]
    if outside_torch or frames:
        frame = (outside_torch or frames)[-1]
        return f"`{frame.line}` failed in {Path(frame.filename).name}:{frame.lineno}"
    return "no message"


# -- the zoo table ------------------------------------------------------------------------------


def _meta_model(timm_name: str, **kwargs: Any) -> "torch.nn.Module":
    import timm
    import torch

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timm.create_model(timm_name, pretrained=False, **kwargs)


def _probe(timm_name: str, img_size: int, with_img_size_arg: bool,
           plain: "torch.nn.Module | None" = None) -> bool:
    """Whether a meta-device model takes a 1-channel ``img_size`` batch (built with or without
    ``img_size=``; ``plain`` is a default-built model to reuse)."""
    probe: dict[str, Any] = dict(num_classes=PROBE_NUM_CLASSES, in_chans=PROBE_IN_CHANS)
    if with_img_size_arg:
        probe["img_size"] = img_size
    try:
        model = plain if (plain is not None and not with_img_size_arg) else _meta_model(
            timm_name, **probe)
    except (TypeError, *INPUT_ERRORS):
        return False
    return _meta_forward_ok(model, img_size)


def probe_input_sizes(timm_name: str, sizes: Sequence[int] = PROBE_SIZES) -> tuple[list[int], bool]:
    """``(accepted sizes, needs_img_size_arg)`` under :func:`create_model`'s policy.

    A model needs ``img_size=`` when some size works only with it; :func:`create_model` then
    always passes it, so the accepted sizes are those that work with the argument.
    """
    try:
        plain = _meta_model(timm_name, num_classes=PROBE_NUM_CLASSES, in_chans=PROBE_IN_CHANS)
    except INPUT_ERRORS:
        plain = None
    plain_ok = {size: plain is not None and _probe(timm_name, size, False, plain)
                for size in sizes}
    needs_arg = any(not plain_ok[size] and _probe(timm_name, size, True) for size in sizes)
    if not needs_arg:
        return [size for size in sizes if plain_ok[size]], False
    return [size for size in sizes if _probe(timm_name, size, True)], True


def _meta_forward_ok(model: "torch.nn.Module", img_size: int) -> bool:
    try:
        check_input(model, PROBE_IN_CHANS, img_size)
    except IncompatibleInputError:
        return False
    return True


def describe_model(name: str, paper_row: dict[str, Any] | None = None,
                   sizes: Sequence[int] = PROBE_SIZES) -> dict[str, Any]:
    """One zoo row, measured: parameters at 1000 classes x 3 channels, accepted input sizes."""
    if paper_row is not None:
        timm_name, renamed_by = timm_name_for(name)
    else:
        timm_name, renamed_by = resolve_model_name(name), ""
    imagenet = _meta_model(timm_name, num_classes=1000, in_chans=3)
    num_params = count_params(imagenet)
    del imagenet
    accepted, needs_arg = probe_input_sizes(timm_name, sizes)
    min_size = accepted[0] if accepted else None
    flops = None
    if min_size is not None:
        probe: dict[str, Any] = dict(num_classes=PROBE_NUM_CLASSES, in_chans=PROBE_IN_CHANS)
        if needs_arg:
            probe["img_size"] = min_size
        flops = flops_per_image(_meta_model(timm_name, **probe), PROBE_IN_CHANS, min_size)
    row = paper_row or {}
    return {
        "model": name,
        "timm_name": timm_name,
        "renamed_by": renamed_by,
        "family": family_of(timm_name),
        "type": row.get("type", ""),
        "efficient": row.get("efficient", ""),
        "paper_num_params": row.get("num_param", ""),
        "num_params": num_params,
        "min_img_size": min_size,
        "accepted_img_sizes": " ".join(str(s) for s in accepted),
        "needs_img_size_arg": needs_arg,
        "flops_per_image_at_min": flops,
        "link": row.get("link", ""),
        "pretrained_tag": pretrained_tag(timm_name),
    }


def build_zoo_table(models: Iterable[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Measure every paper model (or the given subset) and return the zoo table."""
    from tqdm.auto import tqdm

    paper = paper_models()
    if models is not None:
        wanted = set(models)
        paper = paper[paper["model"].isin(wanted)]
    rows = []
    records = paper.to_dict("records")
    for record in tqdm(records, desc="zoo", unit="model", disable=not progress):
        rows.append(describe_model(record["model"], paper_row=record))
    table = pd.DataFrame(rows, columns=list(ZOO_COLUMNS))
    table["min_img_size"] = table["min_img_size"].astype("Int64")
    table["flops_per_image_at_min"] = table["flops_per_image_at_min"].astype("Int64")
    return table
