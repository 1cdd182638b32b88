"""Cropping convolution kernels to their live taps: same function, same training, reversible."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pepr.core.errors import IncompatibleInputError
from pepr.training import crop, nets, train


def tiny_cnn() -> nn.Sequential:
    """8x8 input: a 3x3 convolution at 4x4, a strided one to 1x1 (taps 1:3) and one at 1x1 (tap 1)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),  # 8 -> 4: all live
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),  # 4 -> 2: all live
        nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),  # 2 -> 1: taps 1:3
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),  # 1 -> 1: centre tap only
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"), [
    (1, 3, 1, 1, [1]),  # a 1x1 map: only the centre tap meets the image
    (2, 3, 2, 1, [1, 2]),  # one output position at -1..1
    (2, 3, 1, 1, [0, 1, 2]),  # every tap meets the image somewhere
    (1, 5, 1, 2, [2]),
    (7, 3, 1, 1, [0, 1, 2]),
])
def test_live_taps(size, kernel, stride, padding, expected):
    assert crop.live_taps(size, kernel, stride, padding, dilation=1) == expected


def test_axis_crop_shifts_the_padding_and_keeps_the_output_length():
    assert crop.axis_crop(1, 3, 1, 1, 1) == crop.TapRange(1, 2, 0)
    assert crop.axis_crop(2, 3, 2, 1, 1) == crop.TapRange(1, 3, 0)
    assert crop.axis_crop(4, 3, 1, 1, 1) == crop.TapRange(0, 3, 1)  # nothing dead
    assert crop.crop_plan(nn.Conv2d(2, 2, 3, padding=1), (4, 4)) is None
    assert crop.crop_plan(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), (1, 1)) is None


def test_cropped_model_computes_the_same_outputs_and_gradients():
    full, cropped = tiny_cnn(), tiny_cnn()
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 1, 0])
    report = crop.crop_dead_taps(cropped, x[:2])
    assert report.convs == 2
    assert isinstance(cropped[5], crop.CroppedConv2d) and tuple(cropped[5].weight.shape) == (8, 6, 2, 2)
    assert tuple(cropped[8].weight.shape) == (8, 8, 1, 1)
    # multiply-adds per image: 4*4*4*9 + 2*2*6*4*9 + 1*8*6*9 + 8*8*9 full; the crop keeps 4 and 1 taps
    assert (report.macs_full, report.macs_cropped) == (576 + 864 + 432 + 576, 576 + 864 + 192 + 64)
    F.cross_entropy(full(x), y).backward()
    out = cropped(x)
    F.cross_entropy(out, y).backward()
    torch.testing.assert_close(out, full(x))
    torch.testing.assert_close(cropped[5].weight.grad, full[5].weight.grad[:, :, 1:3, 1:3])
    torch.testing.assert_close(cropped[8].weight.grad, full[8].weight.grad[:, :, 1:2, 1:2])
    dead = full[8].weight.grad.clone()
    dead[:, :, 1, 1] = 0
    assert torch.count_nonzero(dead) == 0  # the taps the crop drops never get a gradient
    assert torch.count_nonzero(full[8].weight.grad) > 0


def test_training_cropped_and_full_gives_the_same_weights_and_restore_puts_them_back():
    full, cropped = tiny_cnn(), tiny_cnn()
    initial = {name: value.clone() for name, value in full.state_dict().items()}
    crop.crop_dead_taps(cropped, torch.randn(2, 1, 8, 8))
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 3, (32,))
    for model in (full, cropped):
        optimizer = train.make_optimizer("adam", model.parameters(), 5e-3)
        for step in range(5):
            optimizer.zero_grad()
            F.cross_entropy(model(x[step::5]), y[step::5]).backward()
            optimizer.step()
    assert crop.restore_dead_taps(cropped) == 2
    assert not any(isinstance(m, crop.CroppedConv2d) for m in cropped.modules())
    restored = cropped.state_dict()
    assert restored.keys() == full.state_dict().keys()
    for name, value in full.state_dict().items():
        torch.testing.assert_close(restored[name], value, rtol=1e-4, atol=1e-5)
    assert torch.equal(restored["8.weight"][:, :, 0, 0], initial["8.weight"][:, :, 0, 0])
    assert not torch.equal(restored["8.weight"][:, :, 1, 1], initial["8.weight"][:, :, 1, 1])


def test_a_cropped_layer_refuses_another_input_size():
    model = tiny_cnn()
    crop.crop_dead_taps(model, torch.randn(1, 1, 8, 8))
    with pytest.raises(IncompatibleInputError, match="cropped for 2x2 inputs got 4x4"):
        model(torch.randn(1, 1, 16, 16))
    crop.restore_dead_taps(model)
    assert model(torch.randn(1, 1, 16, 16)).shape == (1, 3)


def test_layers_seen_at_two_sizes_or_under_two_names_are_left_whole():
    shared = nn.Conv2d(2, 2, 3, padding=1)

    class TwoSizes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = shared

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).mean() + self.conv(F.avg_pool2d(x, 2)).mean()

    assert crop.crop_dead_taps(TwoSizes(), torch.randn(1, 2, 2, 2)).convs == 0
    twice = nn.Sequential(shared, shared)
    assert crop.crop_dead_taps(twice, torch.randn(1, 2, 1, 1)).convs == 0


def test_cropping_neither_draws_random_numbers_nor_moves_batch_norm_statistics():
    model, example = tiny_cnn(), torch.randn(2, 1, 8, 8)
    state = torch.get_rng_state()
    crop.crop_dead_taps(model, example)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model[6].running_mean, torch.zeros(8))
    assert model.training


def test_zoo_model_keeps_its_outputs_and_channels_last_kernels():
    net = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=28)
    net = net.to(memory_format=torch.channels_last)
    example = train.example_input(1, 28, memory_format=torch.channels_last)
    before = net.eval()(example)
    report = crop.crop_dead_taps(net, example)
    assert report.convs > 0 and 0 < report.saved_fraction < 1
    torch.testing.assert_close(net(example), before, rtol=1e-4, atol=1e-5)
    for module in net.modules():
        if isinstance(module, crop.CroppedConv2d) and module.weight.shape[-1] > 1:
            assert module.weight.is_contiguous(memory_format=torch.channels_last)


def test_a_crop_that_would_change_the_outputs_is_undone(monkeypatch):
    model = tiny_cnn()
    example = torch.randn(2, 1, 8, 8)
    before = model.eval()(example)
    wrong = crop.TapRange(0, 1, 0)  # the corner tap instead of the centre
    monkeypatch.setattr(crop, "axis_crop", lambda size, *args: wrong if size == 1 else None)
    report = crop.crop_dead_taps(model, example)
    assert report.convs == 0 and report.undone
    assert not any(isinstance(m, crop.CroppedConv2d) for m in model.modules())
    torch.testing.assert_close(model(example), before)


def test_string_paddings_and_conv_subclasses_are_counted_but_left_whole():
    from timm.layers import Conv2dSame

    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding="same"), Conv2dSame(3, 4, 3))
    report = crop.crop_dead_taps(model, torch.randn(2, 2, 1, 1))
    assert report.convs == 0
    assert report.macs_full == report.macs_cropped == 2 * 3 * 9 + 3 * 4 * 9


@pytest.mark.parametrize(("in_channels", "out_channels", "groups"), [
    (6, 4, 1), (6, 6, 6), (6, 12, 6), (8, 4, 2),  # dense, depthwise, depth multiplier 2, grouped
])
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_product_is_the_convolution_on_a_one_pixel_map(in_channels, out_channels,
                                                                 groups, bias):
    x = torch.randn(5, in_channels, 1, 1).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_channels, in_channels // groups, 1, 1)
    offset = torch.randn(out_channels) if bias else None
    torch.testing.assert_close(crop.pointwise_product(x, weight, offset, groups),
                               F.conv2d(x, weight, offset, groups=groups))


def test_convolutions_on_one_pixel_maps_become_matrix_products():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.Conv2d(8, 4, 1, padding=1))  # the last one pads: it stays whole
    x = torch.randn(4, 3, 1, 1)
    expected = model(x)
    report = crop.crop_dead_taps(model, x)
    assert (report.convs, report.matrix_products) == (2, 2)
    assert report.macs_full == report.macs_cropped + 8 * 8  # the depthwise kernel lost 8 taps
    torch.testing.assert_close(model(x), expected)
