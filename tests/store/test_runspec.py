"""One run description: the parameter rules, their defaults and normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr.core.errors import BadParameterError, MissingDataError
from pepr.store import results, runspec
from pepr.training import nets


def test_defaults_are_the_papers_protocol_and_one_thread():
    spec = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size)
    protocol = results.PAPER_PROTOCOL
    assert (spec.epochs, spec.batch_size, spec.lr, spec.optimizer) == (
        protocol["epochs"], protocol["batch_size"], protocol["lr"], protocol["optimizer"])
    assert spec.threads == 1
    assert spec.img_size == int(nets.get_model_info("test_resnet")["min_img_size"])


def test_every_bad_parameter_is_named_in_one_error():
    with pytest.raises(BadParameterError) as caught:
        runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, epochs=0, threads=-1,
                              optimizer="rmsprop", data_fraction=1.5)
    message = str(caught.value)
    for name in ("epochs", "threads", "optimizer", "data_fraction"):
        assert name in message


def test_unknown_parameter_is_refused():
    with pytest.raises(BadParameterError, match="unknown parameter"):
        runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, learning_rate=0.1)


def test_text_from_the_command_line_is_coerced():
    spec = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, epochs="3", threads="2", lr="1e-3",
                                 data_fraction="0.5", img_size="32", pretrained="no")
    assert (spec.epochs, spec.threads, spec.lr, spec.data_fraction, spec.img_size) == (
        3, 2, 1e-3, 0.5, 32)
    assert spec.pretrained is False


def test_a_checkpoint_path_stays_a_path_not_the_hub(tmp_path: Path, monkeypatch):
    checkpoint = tmp_path / "weights.safetensors"
    checkpoint.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    as_path = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, pretrained=Path("weights.safetensors"))
    as_text = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, pretrained="weights.safetensors")
    assert as_path.pretrained == as_text.pretrained == str(checkpoint.resolve())
    assert as_path.checkpoint == checkpoint.resolve()
    assert as_path.run_id == as_text.run_id


def test_a_missing_checkpoint_is_refused(tmp_path: Path):
    with pytest.raises(MissingDataError, match="not a file"):
        runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, pretrained=tmp_path / "none.pt")


def test_threads_are_recorded_but_not_part_of_the_run_id():
    one = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, threads=1)
    two = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, threads=2)
    assert one.run_id == two.run_id
    assert one.cell()["threads"] == 1 and two.cell()["threads"] == 2
    assert one.run_id != runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, seed=1).run_id


def test_cell_rebuilds_the_spec():
    spec = runspec.make_run_spec("test_resnet", "synthetic", min_img_size=nets.min_img_size, seed=4, threads=2)
    fields = runspec.RunSpec.__dataclass_fields__
    assert runspec.RunSpec(**{k: spec.cell()[k] for k in fields}) == spec
    assert spec.cell()["run_id"] == results.run_id(spec.cell())


def test_the_training_notebooks_defaults_are_pepr_runs():
    import ast

    import papermill

    from pepr.core import paths

    declared = papermill.inspect_notebook(str(paths.TRAIN_NOTEBOOK))
    defaults = {name: ast.literal_eval(info["default"]) for name, info in declared.items()}
    assert defaults == runspec.notebook_defaults()


def test_a_mistyped_or_missing_notebook_parameter_is_refused_by_name():
    given = {**runspec.notebook_defaults(), "model": "test_resnet", "dataset": "synthetic"}
    with pytest.raises(BadParameterError, match="unknown parameter 'epoch' \\(did you mean 'epochs'\\?\\)"):
        runspec.check_notebook_parameters([*given, "epoch", "_i3"], {**given, "epoch": 2})
    with pytest.raises(BadParameterError, match="'model' is required"):
        runspec.check_notebook_parameters(given, {**given, "model": None})
    runspec.check_notebook_parameters([*given, "_", "_i1"], given)  # IPython's own names pass
    with pytest.raises(BadParameterError, match=r"epochs must be an integer >= 1 \(got 'two'\)$"):
        runspec.check_notebook_parameters(given, {**given, "epochs": "two"})
    runspec.check_notebook_parameters(given, {**given, "epochs": "3"})  # text that parses passes


@pytest.mark.slow
def test_papermill_with_a_mistyped_parameter_stops_before_training(tmp_path):
    import subprocess
    import sys

    from pepr.core import paths

    command = [sys.executable, "-m", "papermill", str(paths.TRAIN_NOTEBOOK),
               str(tmp_path / "out.ipynb"), "-p", "model", "test_resnet", "-p", "dataset",
               "synthetic", "-p", "epoch", "2", "-p", "results_dir", str(tmp_path), "-k", "python3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          cwd=paths.REPO_ROOT)
    assert done.returncode != 0
    assert "unknown parameter 'epoch' (did you mean 'epochs'?)" in done.stderr
    assert not list(tmp_path.glob("*/runs.csv"))  # nothing trained, nothing written


@pytest.mark.slow
def test_papermill_with_a_bad_value_shows_one_line_from_the_notebook(tmp_path):
    import subprocess
    import sys

    from pepr.core import paths

    command = [sys.executable, "-m", "papermill", str(paths.TRAIN_NOTEBOOK), str(tmp_path / "out.ipynb"),
               "-p", "model", "test_resnet", "-p", "dataset", "synthetic", "-p", "epochs", "two",
               "-p", "results_dir", str(tmp_path), "-k", "python3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=paths.REPO_ROOT)
    assert done.returncode != 0
    cell_report = done.stderr.split("Exception encountered at")[1]
    assert "BadParameterError: notebook: epochs must be an integer >= 1 (got 'two')" in cell_report
    assert "Traceback" not in cell_report and "File " not in cell_report  # the notebook's part is one line


def test_auto_size_comes_from_the_zoo_table_and_outside_it_asks_for_timm():
    from pepr.core.errors import UnknownModelError
    from pepr.data import zoo

    row = zoo.zoo_row("dla46x_c")
    assert runspec.resolve_img_size("dla46x_c", "auto") == int(row["min_img_size"])
    with pytest.raises(UnknownModelError, match="not in the zoo: its smallest input size is measured by timm"):
        runspec.resolve_img_size("test_resnet", "auto")
    assert runspec.resolve_img_size("test_resnet", "auto", nets.min_img_size) == nets.min_img_size("test_resnet")
