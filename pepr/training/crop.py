"""Crop convolution kernels to the taps that can reach the image.

At MedMNIST's 28 px the deepest stages of many CNNs run on 1x1 or 2x2 feature maps. A 3x3
kernel with padding 1 on a 1x1 map has eight of its nine taps on the zero padding at every
output position: they add exactly zero to every output and receive exactly zero gradient, yet
the convolution computes them, in the forward pass and twice in the backward pass, and reorders
the whole kernel each time. For resnet18d at 28 px these are the last stage's 512x512x3x3
kernels on 1x1 maps, among the largest items of oneDNN's time
(``benchmarks/convolution_profile.py --models resnet18d`` prints oneDNN's breakdown with full
and with cropped kernels).

:func:`crop_dead_taps` swaps each such ``nn.Conv2d`` for a :class:`CroppedConv2d` that holds only
the live taps (a contiguous block of rows and columns) with the padding shifted to match. A
convolution whose map is 1x1 (its kernel then crops to 1x1) is computed as the matrix product
it is (per group; an elementwise product for a depthwise one), which runs faster outside oneDNN
(``benchmarks/convolution_profile.py`` lists these layers among oneDNN's largest items for
resnet26d and mobilenetv2_050). The function computed at that input size is the same; only the
floating-point summation order differs, as between any two convolution algorithms
(``benchmarks/crop_agreement.py`` shows what that does over a run). Dead taps get a zero gradient, so under Adam
or SGD they would never have moved; :func:`restore_dead_taps` writes the trained live taps back
into the full kernels (the dead taps keep their initial values; under a weight-decaying
optimizer they would have decayed, which changes no output at this size). A cropped layer given
another input size raises instead of computing something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pepr.core.errors import IncompatibleInputError
from pepr.training.nets import traceless_forward

#: Largest relative difference between the model's outputs before and after cropping that is
#: taken as rounding (float32 accumulates in a different order in a smaller kernel).
OUTPUT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class TapRange:
    """The live taps ``start:stop`` of one kernel axis and the padding that keeps them aligned."""

    start: int
    stop: int
    padding: int


@dataclass(frozen=True)
class CropReport:
    """What :func:`crop_dead_taps` changed: cropped layers, and multiply-adds per image of the
    convolutions that run once per forward pass (the ones it considers)."""

    convs: int
    macs_full: int
    macs_cropped: int
    matrix_products: int = 0
    #: True when the specialised model's outputs differed beyond rounding and it was put back
    undone: bool = False

    @property
    def saved_fraction(self) -> float:
        """Share of the model's convolution multiply-adds that were on dead taps."""
        return 1 - self.macs_cropped / self.macs_full if self.macs_full else 0.0


def output_length(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def live_taps(size: int, kernel: int, stride: int, padding: int, dilation: int) -> list[int]:
    """Kernel taps that meet at least one input element (not padding) at some output position."""
    positions = range(output_length(size, kernel, stride, padding, dilation))
    return [tap for tap in range(kernel)
            if any(0 <= out * stride - padding + tap * dilation < size for out in positions)]


def axis_crop(size: int, kernel: int, stride: int, padding: int, dilation: int) -> TapRange | None:
    """The crop of one axis, or ``None`` when the live taps cannot be cut out as a block.

    Cropping taps ``a:b`` shifts the padding to ``padding - a * dilation``; the crop is kept only
    where that padding is not negative and gives the same output length.
    """
    live = live_taps(size, kernel, stride, padding, dilation)
    if not live or live != list(range(live[0], live[-1] + 1)):
        return None
    start, stop = live[0], live[-1] + 1
    new_padding = padding - start * dilation
    if new_padding < 0 or (output_length(size, stop - start, stride, new_padding, dilation)
                           != output_length(size, kernel, stride, padding, dilation)):
        return None
    return TapRange(start, stop, new_padding)


def crop_plan(conv: nn.Module, input_size: tuple[int, int]) -> tuple[TapRange, TapRange] | None:
    """Row and column crops of a plain ``nn.Conv2d`` at ``input_size``; ``None`` if nothing is dead.

    Subclasses (timm's same-padding and weight-standardised convolutions) compute their own
    forward and are left alone, as are non-zero padding modes and string paddings.
    """
    if (type(conv) is not nn.Conv2d or conv.padding_mode != "zeros"
            or isinstance(conv.padding, str)):
        return None
    plan = []
    for axis in range(2):
        crop = axis_crop(input_size[axis], conv.kernel_size[axis], conv.stride[axis],
                         conv.padding[axis], conv.dilation[axis])
        if crop is None:
            return None
        plan.append(crop)
    rows, cols = plan
    if (rows.stop - rows.start, cols.stop - cols.start) == tuple(conv.kernel_size):
        return None
    return rows, cols


def specialise_plan(conv: nn.Module, sizes: "ConvSizes") -> tuple[TapRange, TapRange] | None:
    """The crop of :func:`crop_plan`, or for a 1x1 kernel on a 1x1 map (one output position, a
    matrix product) the whole kernel; ``None`` where the convolution stays as it is."""
    plan = crop_plan(conv, sizes.input)
    if (plan is None and type(conv) is nn.Conv2d and sizes.input == sizes.output == (1, 1)
            and tuple(conv.kernel_size) == (1, 1) and tuple(conv.padding) == (0, 0)):
        return TapRange(0, 1, 0), TapRange(0, 1, 0)
    return plan


def conv_macs(conv: nn.Conv2d, output_size: tuple[int, int]) -> int:
    """Multiply-adds of one image through ``conv``, given the output size it produced."""
    kernel_h, kernel_w = conv.kernel_size
    return (output_size[0] * output_size[1] * conv.out_channels * conv.in_channels // conv.groups
            * kernel_h * kernel_w)


def weight_memory_format(weight: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for a kernel stored that way (the model was converted), else contiguous."""
    if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def pointwise_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      groups: int) -> torch.Tensor:
    """A 1x1 kernel applied to a 1x1 map: per group a matrix product, which is ``F.linear`` for
    one group and an elementwise product for a depthwise kernel (one channel per group)."""
    batch, out_channels = x.shape[0], weight.shape[0]
    if groups == 1:
        return F.linear(x.flatten(1), weight.flatten(1), bias).view(batch, out_channels, 1, 1)
    if out_channels == groups and weight.shape[1] == 1:
        product = x.flatten(1) * weight.flatten()
    else:
        product = torch.einsum("bgi,goi->bgo", x.reshape(batch, groups, -1),
                               weight.reshape(groups, out_channels // groups, -1))
        product = product.reshape(batch, out_channels)
    if bias is not None:
        product = product + bias
    return product.view(batch, out_channels, 1, 1)


class CroppedConv2d(nn.Conv2d):
    """A convolution holding only the live taps of another one, valid at one input size; on a
    1x1 map it is computed as a matrix product (:func:`pointwise_product`)."""

    def __init__(self, original: nn.Conv2d, plan: tuple[TapRange, TapRange],
                 input_size: tuple[int, int]) -> None:
        rows, cols = plan
        super().__init__(original.in_channels, original.out_channels,
                         kernel_size=(rows.stop - rows.start, cols.stop - cols.start),
                         stride=original.stride, padding=(rows.padding, cols.padding),
                         dilation=original.dilation, groups=original.groups, bias=False,
                         device="meta")  # no random initialisation: the weight is set below
        live = original.weight.detach()[:, :, rows.start:rows.stop, cols.start:cols.stop]
        self.weight = nn.Parameter(live.clone(memory_format=weight_memory_format(original.weight)),
                                   requires_grad=original.weight.requires_grad)
        self.bias = original.bias  # shared: a bias has no taps
        self.plan = plan
        self.input_size = tuple(input_size)
        self.matrix_product = (self.input_size == (1, 1) and self.kernel_size == (1, 1)
                               and self.padding == (0, 0))
        object.__setattr__(self, "original", original)  # kept for restoring, not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.input_size:
            raise IncompatibleInputError(
                f"a convolution cropped for {self.input_size[0]}x{self.input_size[1]} inputs got "
                f"{x.shape[-2]}x{x.shape[-1]}; call pepr.training.crop.restore_dead_taps(model) first")
        if self.matrix_product:
            return pointwise_product(x, self.weight, self.bias, self.groups)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def restored(self) -> nn.Conv2d:
        """The original convolution with the trained live taps written back into its kernel."""
        rows, cols = self.plan
        original = self.original.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            original.weight[:, :, rows.start:rows.stop, cols.start:cols.stop] = self.weight
        original.weight.requires_grad_(self.weight.requires_grad)
        original.bias = self.bias
        return original


@dataclass(frozen=True)
class ConvSizes:
    """The spatial sizes a convolution saw in one forward pass."""

    input: tuple[int, int]
    output: tuple[int, int]


def conv_sizes(model: nn.Module, example: torch.Tensor) -> dict[str, ConvSizes]:
    """Input and output sizes of every 2-D convolution that runs once, under one name.

    One forward pass of ``example`` in eval mode (batch-norm statistics are not updated). A
    convolution called more than once (shared, or applied at several scales) is left out.
    """
    names: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, nn.Conv2d):
            names.setdefault(id(module), []).append(name)
    seen: dict[int, list[ConvSizes]] = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        sizes = ConvSizes(tuple(inputs[0].shape[-2:]), tuple(output.shape[-2:]))
        seen.setdefault(id(module), []).append(sizes)

    hooks = [module.register_forward_hook(record)
             for module in model.modules() if isinstance(module, nn.Conv2d)]
    try:
        traceless_forward(model, example)
    finally:
        for hook in hooks:
            hook.remove()
    return {names[key][0]: calls[0] for key, calls in seen.items()
            if len(calls) == 1 and len(names[key]) == 1}


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, leaf, module)


def crop_dead_taps(model: nn.Module, example: torch.Tensor) -> CropReport:
    """Crop, in place, every convolution of ``model`` with dead taps at ``example``'s size, and
    turn those on 1x1 maps into matrix products.

    ``example`` is one input batch of the size the model will be trained and evaluated at. The
    outputs before and after are compared on it; if they differ by more than rounding, the model
    is put back as it was and nothing is reported cropped.
    """
    macs_full = macs_cropped = 0
    cropped: dict[str, CroppedConv2d] = {}
    for name, sizes in conv_sizes(model, example).items():
        conv = model.get_submodule(name)
        macs = conv_macs(conv, sizes.output)
        macs_full += macs
        plan = specialise_plan(conv, sizes)
        if plan is None:
            macs_cropped += macs
            continue
        cropped[name] = CroppedConv2d(conv, plan, sizes.input)
        macs_cropped += conv_macs(cropped[name], sizes.output)
    if not cropped:
        return CropReport(0, macs_full, macs_full)
    before = traceless_forward(model, example)
    for name, module in cropped.items():
        _replace(model, name, module)
    after = traceless_forward(model, example)
    difference = float((after - before).abs().max()) / (float(before.abs().max()) or 1.0)
    if not difference <= OUTPUT_TOLERANCE:  # NaN counts as a difference
        restore_dead_taps(model)
        return CropReport(0, macs_full, macs_full, undone=True)
    return CropReport(len(cropped), macs_full, macs_cropped,
                      sum(module.matrix_product for module in cropped.values()))


def restore_dead_taps(model: nn.Module) -> int:
    """Put back, in place, the full kernels of every cropped convolution; returns how many."""
    names = [name for name, module in model.named_modules() if isinstance(module, CroppedConv2d)]
    for name in names:
        _replace(model, name, model.get_submodule(name).restored())
    return len(names)
