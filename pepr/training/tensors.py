"""The tensors a run trains on: a dataset's splits loaded, resized and subset (stratified) as torch tensors; and the snapshot of the medmnist package's table written from the installed package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pepr.core import paths
from pepr.core.errors import (
    BadParameterError,
    CorruptDataError,
)

if TYPE_CHECKING:  # torch and PIL are imported where images are loaded: reading tables stays light
    import torch
from pepr.data.files import _medmnist_path, _read_npz
from pepr.data.folders import _read_folder
from pepr.data.images import stratified_indices
from pepr.data.images import (
    SPLITS,
    SYNTHETIC_SPECS,
    ImageDatasetInfo,
    _check_fraction,
    _synthetic_arrays,
    is_multi_label,
    medmnist_info_snapshot,
)
from pepr.data.registry import get_dataset_info

RESIZE_CHUNK = 512  # images resized at a time: bounds the float32 buffer (~300 MB at 224 px)


#: :meth:`ImageSplits.summary` names the classes when there are this few, in this many characters,
#: and keeps this many characters of a dataset's name (a long path keeps its end).
SUMMARY_MAX_CLASS_NAMES = 6


SUMMARY_MAX_NAMES_CHARS = 60


SUMMARY_MAX_NAME_CHARS = 80


@dataclass
class ImageSplits:
    """An image dataset in memory: uint8 images (N, C, H, W) and int64 labels per split.

    Labels are (N,) class indices, or (N, K) 0/1 indicators for a multi-label task.
    ``source_img_size`` is the size of the file the images came from; it differs from
    ``img_size`` when the images were resized (e.g. offline, where only 28 px files exist).
    ``data_fraction`` and ``seed`` record how the training split was subsampled; ``source`` is
    the file read (MedMNIST), the user's path, or the synthetic generator's name.
    """

    name: str
    task: str
    num_classes: int
    in_chans: int
    img_size: int
    source_img_size: int
    synthetic: bool
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    data_fraction: float = 1.0
    seed: int = 0
    source: str = ""

    @property
    def multi_label(self) -> bool:
        return is_multi_label(self.task)

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images, labels)`` of ``train``, ``val`` or ``test``."""
        if split not in SPLITS:
            raise BadParameterError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, f"{split}_x"), getattr(self, f"{split}_y")

    def sizes(self) -> dict[str, int]:
        """Number of images per split."""
        return {split: len(self.split(split)[0]) for split in SPLITS}

    def summary(self) -> str:
        """One line (no newline, under 300 characters) saying what a run saw: the dataset, its
        task and classes, images per split, channels, source and training sizes, the fraction.

        The training code prints it and stores it in the results column ``data_summary``.
        """
        kind = "labels" if self.multi_label else "classes"
        classes = f"{self.num_classes} {kind}"
        names = " / ".join(" ".join(str(name).split()) for name in self.class_names)
        if names and len(self.class_names) <= SUMMARY_MAX_CLASS_NAMES and \
                len(names) <= SUMMARY_MAX_NAMES_CHARS:
            classes += f" ({names})"
        counts = ", ".join(f"{split} {count}" for split, count in self.sizes().items())
        channels = f"{self.in_chans} channel{'' if self.in_chans == 1 else 's'}"
        fraction = f"fraction {self.data_fraction:g}"
        if self.data_fraction < 1.0:
            fraction += f" (seed {self.seed})"
        label = _shorten(" ".join(self.name.split()), SUMMARY_MAX_NAME_CHARS)
        if self.synthetic:
            label += " (SYNTHETIC)"
        return (f"{label}: {self.task}, {classes}; {counts}; {channels}; "
                f"source {self.source_img_size} px, training {self.img_size} px; {fraction}")

    def __repr__(self) -> str:
        resized = "" if self.img_size == self.source_img_size else f" from {self.source_img_size}px"
        kind = " synthetic" if self.synthetic else ""
        return (
            f"ImageSplits({self.name!r}{kind}, {self.task}, {self.num_classes} classes, "
            f"{self.in_chans}x{self.img_size}x{self.img_size}{resized}, sizes={self.sizes()}, "
            f"data_fraction={self.data_fraction}, seed={self.seed})"
        )


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: a kind prefix (``folder:``), ``...``, the end."""
    if len(text) <= limit:
        return text
    prefix = text[:text.index(":") + 1] if ":" in text[:8] else ""
    return prefix + "..." + text[len(text) - (limit - len(prefix) - 3):]


def write_medmnist_snapshot(path: str | Path | None = None) -> Path:
    """Write :func:`medmnist_info_snapshot` of the installed ``medmnist.INFO`` to ``path``."""
    from medmnist.info import INFO, __version__

    path = Path(path) if path is not None else paths.MEDMNIST_INFO_JSON
    document = {"source": f"medmnist {__version__}, medmnist/info.py INFO: the 2D flags, the "
                          f"fields pepr reads (pepr.training.tensors.write_medmnist_snapshot)",
                "INFO": medmnist_info_snapshot(INFO)}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return path


# -- loading ------------------------------------------------------------------------------------


def load_dataset(
    name: str,
    img_size: int = 28,
    data_fraction: float = 1.0,
    seed: int = 0,
    allow_download: bool = True,
) -> ImageSplits:
    """Load an image dataset into memory at ``img_size``, with a subsample of its training split.

    ``name`` is a registered name (``list_datasets()``), or a path (see the module notes).
    MedMNIST uses the official file of ``img_size`` when it is on disk or downloadable (MD5
    verified); otherwise the largest file on disk is resized (bilinear, antialiased when
    downsampling) and ``source_img_size`` says from what. ``data_fraction`` in (0, 1] keeps a
    seeded, stratified subset of the training split (at least one image per class); validation and
    test splits are never subsampled.
    """
    _check_fraction(data_fraction)
    if img_size < 1:
        raise BadParameterError(f"img_size must be positive, not {img_size}")
    info = get_dataset_info(name)
    source = info.source
    if info.kind == "synthetic":
        arrays, source_size = _synthetic_arrays(SYNTHETIC_SPECS[info.source], img_size), img_size
    elif info.kind == "medmnist":
        path, source_size = _medmnist_path(info, img_size, allow_download)
        arrays = _read_npz(path, expected=info.n_samples)
        source = str(path)
    elif info.kind == "npz":
        arrays = _read_npz(Path(info.source))
        source_size = int(arrays["train_images"].shape[1])
    else:
        arrays, source_size = _read_folder(Path(info.source), info)
    splits = {split: _to_tensors(arrays, split, info) for split in SPLITS}
    if data_fraction < 1.0:
        keep = stratified_subset(splits["train"][1], data_fraction, seed)
        splits["train"] = (splits["train"][0][keep], splits["train"][1][keep])
    splits = {split: (resize_images(x, img_size), y) for split, (x, y) in splits.items()}
    return ImageSplits(
        name=info.name, task=info.task, num_classes=info.num_classes, in_chans=info.in_chans,
        img_size=img_size, source_img_size=source_size, synthetic=info.synthetic,
        train_x=splits["train"][0], train_y=splits["train"][1],
        val_x=splits["val"][0], val_y=splits["val"][1],
        test_x=splits["test"][0], test_y=splits["test"][1],
        class_names=list(info.class_names), data_fraction=data_fraction, seed=seed,
        source=source,
    )


def _to_tensors(arrays: dict[str, np.ndarray], split: str,
                info: ImageDatasetInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images and int64 labels ((N,) or (N, K) for multi-label)."""
    import torch

    images = np.asarray(arrays[f"{split}_images"])
    if images.dtype != np.uint8:
        if images.dtype.kind == "f" and images.size and images.max() <= 1.0:
            images = images * 255.0
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        x = x.permute(0, 3, 1, 2).contiguous()
    else:
        raise CorruptDataError(f"{info.source}: {split}_images has shape {tuple(images.shape)}; "
                               f"expected (N, H, W) or (N, H, W, C)")
    labels = np.asarray(arrays[f"{split}_labels"]).astype(np.int64)
    y = torch.from_numpy(labels.reshape(len(labels), -1))
    if not is_multi_label(info.task):
        y = y[:, 0].contiguous()
    return x, y


def resize_images(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) images resized to ``img_size`` (bilinear; antialiased when shrinking)."""
    import torch

    if images.shape[-1] == img_size and images.shape[-2] == img_size:
        return images
    shrinking = img_size < max(images.shape[-2:])
    chunks = []
    for start in range(0, len(images), RESIZE_CHUNK):
        chunk = images[start:start + RESIZE_CHUNK].float()
        out = torch.nn.functional.interpolate(
            chunk, size=(img_size, img_size), mode="bilinear", align_corners=False,
            antialias=shrinking,
        )
        chunks.append(out.round_().clamp_(0, 255).to(torch.uint8))
    if not chunks:
        return images.new_zeros((0, images.shape[1], img_size, img_size))
    return torch.cat(chunks)


def stratified_subset(labels: "torch.Tensor", fraction: float, seed: int) -> "torch.Tensor":
    """Sorted indices of a seeded, stratified ``fraction`` of ``labels`` as a tensor
    (:func:`pepr.data.images.stratified_indices`, the rule written once)."""
    import torch

    return torch.from_numpy(stratified_indices(labels.numpy(), fraction, seed))