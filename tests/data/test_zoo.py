"""The model zoo: the factory, local checkpoints, typed errors, counts, and data/zoo.csv."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
import timm
import torch
from safetensors.torch import save_file

from pepr.cli import main
from pepr.core.errors import (
    CorruptDataError,
    IncompatibleInputError,
    MissingDataError,
    MissingDependencyError,
    UnknownModelError,
)
from pepr.data import zoo
from pepr.training import nets


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return zoo.load_zoo()


@pytest.mark.parametrize("name", ["test_resnet", "test_efficientnet", "test_vit"])
def test_create_model_gives_the_requested_head_and_input(name: str) -> None:
    model = nets.create_model(name, num_classes=3, in_chans=1, img_size=32)
    out = model.eval()(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 3)


def classifier(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_classifier()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_checkpoint_round_trip_drops_a_mismatching_head(tmp_path, suffix: str) -> None:
    source = nets.create_model("test_resnet", num_classes=3, in_chans=1, img_size=32)
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)

    same = nets.create_model("test_resnet", num_classes=3, in_chans=1, img_size=32, pretrained=path)
    for key, value in source.state_dict().items():
        assert torch.equal(same.state_dict()[key], value), key

    other = nets.create_model("test_resnet", num_classes=5, in_chans=1, img_size=32,
                             pretrained=str(path))
    assert classifier(other).weight.shape[0] == 5
    head = {f"fc.{p}" for p in ("weight", "bias")}
    for key, value in source.state_dict().items():
        if key not in head:
            assert torch.equal(other.state_dict()[key], value), key


def test_checkpoint_stem_is_adapted_to_other_channels(tmp_path) -> None:
    source = nets.create_model("test_resnet", num_classes=4, in_chans=3, img_size=32)
    path = tmp_path / "rgb.pt"
    torch.save({"state_dict": source.state_dict()}, path)  # a wrapped checkpoint
    gray = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32, pretrained=path)
    stem = source.state_dict()["conv1.0.weight"]
    assert torch.allclose(gray.state_dict()["conv1.0.weight"], stem.sum(dim=1, keepdim=True))


def test_unreadable_checkpoint_is_corrupt(tmp_path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptDataError, match="broken.safetensors"):
        nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32, pretrained=path)


def test_hub_weights_offline_ask_for_a_local_checkpoint(monkeypatch) -> None:
    monkeypatch.setattr(nets, "_cached_hub_file", lambda name: None)
    monkeypatch.setattr(nets, "_hub_reachable", lambda: False)
    with pytest.raises(MissingDataError, match="local checkpoint path"):
        nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32, pretrained=True)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="mobilenetv3_small_100"):
        nets.create_model("mobilenetv3_smal_100", num_classes=2)
    with pytest.raises(UnknownModelError) as error:
        nets.create_model("resnet1800", num_classes=2)
    suggested = str(error.value).split("did you mean ")[1].split("?")[0].split(", ")
    assert "resnet18" in suggested and len(suggested) == len(set(suggested))  # no name twice


def test_incompatible_input_is_a_typed_error(table: pd.DataFrame) -> None:
    tiny = torch.nn.Sequential(torch.nn.Conv2d(1, 4, kernel_size=7), torch.nn.Flatten())
    with pytest.raises(IncompatibleInputError, match="1x4x4"):
        nets.check_input(tiny, in_chans=1, img_size=4)
    nets.check_input(tiny, in_chans=1, img_size=8)
    needs_more = table[table["min_img_size"] > 28].nsmallest(1, "num_params").iloc[0]
    with pytest.raises(IncompatibleInputError, match="accepts"):
        nets.create_model(needs_more["model"], num_classes=2, in_chans=1, img_size=28)


def test_model_that_cannot_be_built_for_a_size_is_a_typed_error(table: pd.DataFrame) -> None:
    sized = table[table["needs_img_size_arg"] & (table["min_img_size"] > 28)]
    name = sized.nsmallest(1, "num_params").iloc[0]["model"]
    with pytest.raises(IncompatibleInputError, match="28x28"):
        nets.create_model(name, num_classes=2, in_chans=1, img_size=28)


def test_checking_the_input_leaves_the_model_unchanged() -> None:
    model = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    generator_state = torch.get_rng_state()
    nets.check_input(model, 1, 32)
    nets.flops_per_image(model, 1, 32)
    assert model.training and torch.equal(torch.get_rng_state(), generator_state)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_the_input_check_counts_the_same_flops_as_a_separate_count() -> None:
    model = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32, check=False)
    counted = nets.check_input(model, 1, 32, name="test_resnet", count_flops=True)
    assert counted == nets.flops_per_image(model, in_chans=1, img_size=32) > 0
    assert nets.check_input(model, 1, 32) is None  # without count_flops: a check only


def test_the_counting_check_still_refuses_a_size_the_model_cannot_take(table) -> None:
    name = table.loc[table["min_img_size"] > 28, "model"].iloc[0]
    model = nets.create_model(name, num_classes=2, in_chans=1,
                             img_size=int(table.set_index("model").loc[name, "min_img_size"]))
    with pytest.raises(IncompatibleInputError, match=name):
        nets.check_input(model, 1, 8, name=name, count_flops=True)


def test_a_failing_flop_counter_leaves_flops_unknown_not_the_run(monkeypatch) -> None:
    import torch.utils.flop_counter

    class BrokenCounter:
        def __init__(self, **_):
            pass

        def __enter__(self):
            raise RuntimeError("no formula")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch.utils.flop_counter, "FlopCounterMode", BrokenCounter)
    model = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32, check=False)
    assert nets.check_input(model, 1, 32, count_flops=True) is None


def test_flops_are_positive_and_grow_with_image_size() -> None:
    model = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32)
    small = nets.flops_per_image(model, in_chans=1, img_size=32)
    large = nets.flops_per_image(model, in_chans=1, img_size=64)
    assert small > 0
    assert 3.5 < large / small < 4.5  # convolutions scale with the number of pixels
    assert model.training  # measuring does not leave the model in eval mode


def test_count_params_counts_every_tensor() -> None:
    model = torch.nn.Linear(10, 3)
    assert nets.count_params(model) == 33


def test_zoo_has_the_papers_131_models(table: pd.DataFrame) -> None:
    paper = zoo.paper_models()
    assert len(table) == 131 and table["model"].is_unique
    assert set(table["model"]) == set(paper["model"])
    assert set(table["type"]) == {"CNN", "Other"}
    assert table["num_params"].gt(0).all() and table["timm_name"].notna().all()
    assert tuple(table.columns) == zoo.ZOO_COLUMNS
    for row in table.to_dict("records"):
        assert nets.resolve_model_name(row["model"]) == row["timm_name"]
        assert timm.is_model(row["timm_name"]), row["timm_name"]
        assert row["pretrained_tag"] == nets.pretrained_tag(row["timm_name"]), row["model"]


def test_zoo_parameter_counts_match_real_models(table: pd.DataFrame) -> None:
    for row in table.nsmallest(2, "num_params").to_dict("records"):
        model = timm.create_model(row["timm_name"], num_classes=1000, in_chans=3)
        assert nets.count_params(model) == row["num_params"]


def test_zoo_minimum_sizes_hold_for_real_forward_passes(table: pd.DataFrame) -> None:
    above = table[table["min_img_size"] > nets.PROBE_SIZES[0]].nsmallest(1, "num_params")
    for row in above.to_dict("records"):
        smaller = max(s for s in nets.PROBE_SIZES if s < row["min_img_size"])
        model = nets.create_model(row["model"], 2, 1, row["min_img_size"])
        with pytest.raises(IncompatibleInputError):
            nets.check_input(model, 1, smaller)


def test_every_renamed_model_resolves(table: pd.DataFrame) -> None:
    renamed = table[table["renamed_by"].fillna("") != ""]
    assert len(renamed) >= 1
    for row in renamed.to_dict("records"):
        assert row["model"] != row["timm_name"]
        assert nets.resolve_model_name(row["model"]) == row["timm_name"]
        assert timm.is_model(row["timm_name"])
        assert row["num_params"] == row["paper_num_params"]  # same architecture as the paper's


def test_zoo_rows_are_regenerated_by_code(table: pd.DataFrame) -> None:
    names = table.nsmallest(2, "num_params")["model"].tolist()
    rebuilt = nets.build_zoo_table(models=names, progress=False).set_index("model")
    stored = table.set_index("model").loc[names]
    for column in ("timm_name", "family", "num_params", "min_img_size", "accepted_img_sizes",
                   "needs_img_size_arg", "flops_per_image_at_min", "pretrained_tag"):
        assert rebuilt[column].astype(str).tolist() == stored[column].astype(str).tolist(), column


def test_model_info_for_zoo_and_plain_timm_names(table: pd.DataFrame) -> None:
    first = table.iloc[0]
    assert nets.get_model_info(first["model"])["num_params"] == first["num_params"]
    info = nets.get_model_info("test_resnet")
    assert info["family"] == "resnet" and info["min_img_size"] in nets.PROBE_SIZES
    assert zoo.list_models("gluon_*") and all(n.startswith("gluon_") for n in
                                              zoo.list_models("gluon_*"))


def test_without_timm_the_zoo_resolves_its_own_names_and_says_what_else_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # as in the book-only install
    assert zoo.zoo_row("xception65.tf_in1k")["model"] == "gluon_xception65"  # a zoo timm name
    assert nets.resolve_model_name("gluon_resnet34_v1b") == "resnet34.gluon_in1k"
    assert zoo.zoo_row("resnet10t_outside_the_zoo") is None
    with pytest.raises(MissingDependencyError, match=r"needs timm.*pip install -e '\.\[train\]'"):
        nets.resolve_model_name("resnet10t_outside_the_zoo")


def test_cli_prints_the_zoo(capsys) -> None:
    assert main(["zoo", "--models", "gluon_xception65"]) == 0
    assert "xception65.tf_in1k" in capsys.readouterr().out


def test_cli_without_a_zoo_table_is_a_one_line_error(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(zoo, "ZOO_CSV", tmp_path / "missing.csv")
    assert main(["zoo"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pepr zoo --rebuild" in err


def test_hub_weights_in_the_local_cache_load_without_network(tmp_path, monkeypatch) -> None:
    imagenet_like = nets.create_model("test_resnet", num_classes=1000, in_chans=3, img_size=32)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in imagenet_like.state_dict().items()}, str(path))
    monkeypatch.setattr(nets, "_cached_hub_file", lambda name: path)
    monkeypatch.setattr(nets, "_hub_reachable", lambda: pytest.fail("no network call expected"))
    model = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=32,
                             pretrained=True)
    assert classifier(model).weight.shape[0] == 2
    assert torch.equal(model.state_dict()["layer1.0.conv1.weight"],
                       imagenet_like.state_dict()["layer1.0.conv1.weight"])


def test_measured_parameters_equal_the_release_for_every_model(table: pd.DataFrame) -> None:
    mismatched = table.loc[table["num_params"] != table["paper_num_params"], "model"].tolist()
    assert mismatched == []
