"""A user's image folder (``train/``, ``val/``, ``test/``, one folder per class): its layout checked, its images read as arrays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pepr.core.errors import (
    CorruptDataError,
    MissingDataError,
)

if TYPE_CHECKING:  # torch and PIL are imported where images are loaded: reading tables stays light
    import PIL.Image
from pepr.data.images import IMAGE_SUFFIXES, SPLITS, ImageDatasetInfo, announce

# -- image folders ------------------------------------------------------------------------------


#: PIL modes by what they hold: gray (one meaningful channel), colour (three), and those read
#: only after a check of their alpha channel when loading (pixels with real transparency refuse).
GRAY_MODES = frozenset({"1", "L", "LA", "La"})


COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})


PALETTE_MODES = frozenset({"P", "PA"})


#: A folder's announcements and errors name this many example files.
EXAMPLE_FILES = 3


@dataclass(frozen=True)
class FolderLayout:
    """The files of an image folder ``<root>/<split>/<class>/*``, checked for consistency.

    ``files[split][class]`` lists the images of a class in a split (sorted); ``ignored`` holds
    the files of class folders that are not images (hidden files and folders are skipped).
    """

    root: Path
    classes: tuple[str, ...]
    files: dict[str, dict[str, list[Path]]]
    ignored: tuple[Path, ...] = ()

    def count(self, split: str) -> int:
        return sum(len(files) for files in self.files[split].values())

    def all_files(self) -> list[Path]:
        return [path for split in SPLITS for c in self.classes for path in self.files[split][c]]


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _examples(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:EXAMPLE_FILES])
    return shown + (", ..." if len(items) > EXAMPLE_FILES else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def folder_layout(root: Path) -> FolderLayout:
    """The classes and files of an image folder, or an error that says what is inconsistent.

    Classes are the sub-folders of ``train/`` that hold images. Refused: a split folder missing
    (:class:`MissingDataError`); a class folder of ``train/`` without images; a class with images
    in ``val/`` or ``test/`` but not in ``train/`` (its images would be dropped); a class of
    ``train/`` with no images in ``val/`` or ``test/``; images directly in a split folder.
    """
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    if missing:
        raise MissingDataError(
            f"{root}: an image folder needs the sub-folders {', '.join(SPLITS)} "
            f"(<root>/<split>/<class>/*.png); missing {', '.join(missing)}"
        )
    files: dict[str, dict[str, list[Path]]] = {}
    ignored: list[Path] = []
    strays: list[Path] = []
    for split in SPLITS:
        files[split] = {}
        for entry in _visible(root / split):
            if entry.is_dir():
                content = _visible(entry)
                files[split][entry.name] = [p for p in content if _is_image(p)]
                ignored += [p for p in content if p.is_file() and not _is_image(p)]
            elif _is_image(entry):
                strays.append(entry)
    train = files["train"]
    if not train:
        raise CorruptDataError(f"{root / 'train'}: no class sub-folders "
                               f"(<root>/<split>/<class>/*.png)")
    empty = [name for name, images in train.items() if not images]
    if empty:
        raise CorruptDataError(f"{root / 'train'}: class folder(s) without images: "
                               f"{', '.join(empty)}; add images or remove the folder(s)")
    classes = tuple(sorted(train))
    extra = [f"{split}/{name} ({_plural(len(images), 'image')})"
             for split in SPLITS[1:] for name, images in files[split].items()
             if name not in train and images]
    if extra:
        raise CorruptDataError(
            f"{root}: class(es) not in train/: {'; '.join(extra)}; their images would be dropped. "
            f"The classes are the folders of train/ ({', '.join(classes)}): add the class to "
            f"train/ or move its images out"
        )
    absent = [f"{split}/: {', '.join(c for c in classes if not files[split].get(c))}"
              for split in SPLITS[1:] if any(not files[split].get(c) for c in classes)]
    if absent:
        raise CorruptDataError(
            f"{root}: class(es) of train/ with no images in {'; in '.join(absent)}; every class "
            f"needs images in train, val and test"
        )
    if strays:
        raise CorruptDataError(
            f"{root}: {_plural(len(strays), 'image')} directly in a split folder, outside any "
            f"class folder (e.g. {_examples(strays)}); move them into <split>/<class>/"
        )
    for split in SPLITS[1:]:
        files[split] = {name: files[split][name] for name in classes}
    files["train"] = {name: train[name] for name in classes}
    return FolderLayout(root=root, classes=classes, files=files, ignored=tuple(ignored))


def _mode_kind(image: "PIL.Image.Image") -> str:
    """``gray``, ``colour``, ``deep`` (more than 8 bits a channel) or ``unknown``, from the header.

    A palette image is gray when every palette entry is; the pixels are not decoded.
    """
    mode = image.mode
    if mode in GRAY_MODES:
        return "gray"
    if mode in COLOUR_MODES:
        return "colour"
    if mode in PALETTE_MODES:
        try:
            entries = np.frombuffer(bytes(image.palette.palette), np.uint8)
            gray = image.palette.mode == "RGB" and len(entries) % 3 == 0 and bool(
                (entries.reshape(-1, 3) == entries.reshape(-1, 3)[:, :1]).all())
        except (AttributeError, ValueError, TypeError):
            gray = False
        return "gray" if gray else "colour"
    if mode.startswith(("I", "F")):
        return "deep"
    return "unknown"


def _open_image(path: Path) -> "PIL.Image.Image":
    from PIL import Image

    try:
        return Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptDataError(f"{path}: cannot be read as an image ({error})") from error


def _refuse_modes(root: Path, refused: dict[str, list[tuple[Path, str]]]) -> None:
    """:class:`CorruptDataError` for images whose conversion to 8 bits would be a guess."""
    reasons = {
        "deep": "more than 8 bits per channel (16-bit or float): reading them as 8-bit needs a "
                "choice pepr does not guess (an intensity window)",
        "unknown": "a mode pepr cannot convert to this folder's mode without a loss",
    }
    for kind, reason in reasons.items():
        found = refused.get(kind, [])
        if found:
            modes = Counter(mode for _, mode in found)
            listed = ", ".join(f"{mode} x{count}" for mode, count in sorted(modes.items()))
            raise CorruptDataError(
                f"{root}: {_plural(len(found), 'image')} in modes {listed} (e.g. "
                f"{_examples([path for path, _ in found])}) with {reason}; convert them to "
                f"8-bit grayscale or RGB files first"
            )


def _folder_channels_and_size(layout: FolderLayout) -> tuple[int, int]:
    """Channels and source size of a folder, from every file's header (no pixels decoded).

    Channels: 1 when every image is grayscale, 3 when any is colour (grayscale files are then
    read as RGB, a lossless conversion). Images of more than 8 bits per channel, or in modes
    without a safe conversion, are refused. Size: the larger side of the most common size.
    """
    refused: dict[str, list[tuple[Path, str]]] = {}
    colour = False
    sizes: Counter[tuple[int, int]] = Counter()
    for path in layout.all_files():
        with _open_image(path) as image:
            kind = _mode_kind(image)
            sizes[image.size] += 1
            if kind in ("deep", "unknown"):
                refused.setdefault(kind, []).append((path, image.mode))
            colour = colour or kind == "colour"
    _refuse_modes(layout.root, refused)
    return (3 if colour else 1), max(_most_common_size(sizes))


def _most_common_size(sizes: Counter[tuple[int, int]]) -> tuple[int, int]:
    """The (width, height) most files have; a tie goes to the larger area, then the wider."""
    return max(sizes, key=lambda size: (sizes[size], size[0] * size[1], size))


def _has_alpha(image: "PIL.Image.Image") -> bool:
    return bool({"A", "a"} & set(image.getbands())) or "transparency" in image.info


def _is_opaque(image: "PIL.Image.Image") -> bool:
    bands = image.getbands()
    if "A" in bands or "a" in bands:
        alpha = image.getchannel("A" if "A" in bands else "a")
    else:
        alpha = image.convert("RGBA").getchannel("A")
    return alpha.getextrema()[0] == 255


def _read_folder(root: Path, info: ImageDatasetInfo) -> tuple[dict[str, np.ndarray], int]:
    """Arrays in the .npz layout from ``<root>/<split>/<class>/*``, every decision announced.

    Each image is converted to the folder's mode (``L``, or ``RGB`` when any file is colour;
    an alpha channel is dropped only when fully opaque, real transparency is refused) and
    resized bilinearly to the source size, ``info.sizes[0]`` square (the larger side of the most
    common size; a non-square image is stretched). Conversions, resizes and stretches are
    announced (:class:`DataWarning`), one line each.
    """
    from PIL import Image

    layout = folder_layout(root)
    size = info.sizes[0]
    mode = "L" if info.in_chans == 1 else "RGB"
    converted: Counter[str] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    refused: dict[str, list[tuple[Path, str]]] = {}
    transparent: list[Path] = []
    opaque_alpha = 0
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        images, labels = [], []
        for index, class_name in enumerate(layout.classes):
            for path in layout.files[split][class_name]:
                with _open_image(path) as image:
                    kind = _mode_kind(image)
                    if kind in ("deep", "unknown") or (kind == "colour" and mode == "L"):
                        # changed since the folder was described: never convert with a loss
                        refused.setdefault("unknown" if kind == "colour" else kind, []).append(
                            (path, image.mode))
                        continue
                    try:
                        image.load()
                        sizes[image.size] += 1
                        if _has_alpha(image):
                            if not _is_opaque(image):
                                transparent.append(path)
                                continue
                            opaque_alpha += 1
                        if image.mode != mode:
                            converted[image.mode] += 1
                            image = image.convert(mode)
                        if image.size != (size, size):
                            image = image.resize((size, size), Image.Resampling.BILINEAR)
                        images.append(np.asarray(image, dtype=np.uint8))
                    except OSError as error:
                        raise CorruptDataError(
                            f"{path}: cannot be read as an image ({error})") from error
                labels.append(index)
        shape = (0, size, size) if mode == "L" else (0, size, size, 3)
        arrays[f"{split}_images"] = np.stack(images) if images else np.zeros(shape, np.uint8)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64).reshape(-1, 1)
    _refuse_modes(root, refused)
    if transparent:
        raise CorruptDataError(
            f"{root}: {_plural(len(transparent), 'image')} with transparent pixels (e.g. "
            f"{_examples(transparent)}); pepr does not guess the background to composite them "
            f"onto: flatten them onto the background you mean, or drop their alpha channel"
        )
    _announce_folder(layout, mode, size, converted, opaque_alpha, sizes)
    return arrays, size


def _announce_folder(layout: FolderLayout, mode: str, size: int, converted: Counter[str],
                     opaque_alpha: int, sizes: Counter[tuple[int, int]]) -> None:
    """One :class:`DataWarning` line per kind of decision taken while reading a folder."""
    root, total = layout.root, sum(sizes.values())
    if converted:
        origins = ", ".join(f"{source} x{count}" for source, count in converted.most_common())
        dropped = (f"; {_plural(opaque_alpha, 'fully opaque alpha channel')} dropped"
                   if opaque_alpha else "")
        target = "RGB" if mode == "RGB" else "L (grayscale)"
        announce(f"{root}: converted {converted.total()} of {total} images to {target} "
                 f"(from modes {origins}){dropped}")
    common = _most_common_size(sizes) if sizes else (size, size)
    others = Counter({shape: n for shape, n in sizes.items() if shape != common})
    if others:
        listed = ", ".join(f"{w}x{h} x{n}" for (w, h), n in others.most_common(EXAMPLE_FILES))
        more = ", ..." if len(others) > EXAMPLE_FILES else ""
        announce(f"{root}: {others.total()} of {total} images differ from the most common size "
                 f"{common[0]}x{common[1]} ({listed}{more}) and were resized to {size}x{size}")
    stretched = Counter({shape: n for shape, n in sizes.items() if shape[0] != shape[1]})
    if stretched:
        (w, h), _ = stretched.most_common(1)[0]
        announce(f"{root}: {stretched.total()} of {total} images are not square (e.g. {w}x{h}) "
                 f"and were stretched to {size}x{size} (aspect ratio not kept)")
    if layout.ignored:
        announce(f"{root}: ignored {_plural(len(layout.ignored), 'non-image file')} "
                 f"(e.g. {_examples(layout.ignored)}); images end in "
                 f"{', '.join(sorted(IMAGE_SUFFIXES))}")
