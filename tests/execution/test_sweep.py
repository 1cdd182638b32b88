"""Studies: spec validation, grid expansion, resume after SIGKILL, executors, failed runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from pepr.core.errors import ResultsNotWritableError, StudySpecError
from pepr.execution import sweep
from pepr.training import nets
from pepr.store import results, runspec, studies

REPO_ROOT = Path(__file__).resolve().parents[2]

TINY_STUDY = {
    "study": "tiny",
    "models": ["test_resnet"],
    "datasets": ["synthetic"],
    "seeds": [0, 1, 2],
    "epochs": 1,
    "img_size": 28,
    "threads": 1,
}


def write_spec(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump({**TINY_STUDY, **changes}))
    return path


def test_unknown_key_is_an_error_that_names_it(tmp_path: Path):
    with pytest.raises(StudySpecError, match="'learning_rate'"):
        studies.load_spec(write_spec(tmp_path, learning_rate=0.1))


def test_missing_and_bad_values_are_errors(tmp_path: Path):
    with pytest.raises(StudySpecError, match="models"):
        studies.validate_spec({"study": "x", "datasets": ["synthetic"]})
    with pytest.raises(StudySpecError, match="img_size"):
        studies.load_spec(write_spec(tmp_path, img_size="big"))
    with pytest.raises(StudySpecError, match="data_fraction"):
        studies.load_spec(write_spec(tmp_path, data_fractions=[0.0]))
    with pytest.raises(StudySpecError, match="threads"):
        studies.load_spec(write_spec(tmp_path, threads=0))


def test_a_minimal_study_file_takes_every_other_key_from_the_defaults(tmp_path: Path):
    path = tmp_path / "minimal.yml"
    path.write_text(yaml.safe_dump({"study": "m", "models": ["test_resnet"],
                                    "datasets": ["synthetic"], "epochs": 1}))
    cells = studies.expand(studies.load_spec(path), min_img_size=nets.min_img_size)
    assert len(cells) == 1
    cell = cells[0]
    assert cell["threads"] == runspec.DEFAULT_THREADS == 1
    protocol = results.PAPER_PROTOCOL
    assert (cell["batch_size"], cell["lr"], cell["optimizer"]) == (
        protocol["batch_size"], protocol["lr"], protocol["optimizer"])


def _digit_study() -> tuple[str, dict]:
    """A study name whose only cell has a run id of decimal digits (about 1 name in 140)."""
    for index in range(20000):
        spec = studies.validate_spec({**TINY_STUDY, "study": f"d{index}", "seeds": [0]})
        cell = studies.expand(spec, min_img_size=nets.min_img_size)[0]
        if cell["run_id"].isdigit():
            return spec, cell
    raise AssertionError("no all-digit run id in 20000 names")


def test_a_cell_whose_id_is_all_digits_is_skipped_once_ok(tmp_path: Path):
    spec, cell = _digit_study()
    results.append_run({**{k: cell[k] for k in results.RUN_COLUMNS if k in cell}, "status": "ok"},
                       tmp_path)
    todo, skipped = sweep.pending_cells(studies.expand(spec, min_img_size=nets.min_img_size), spec["study"], tmp_path)
    assert (todo, skipped) == ([], 1)


def test_notebook_parameters_are_the_notebooks_own():
    import papermill

    cell = studies.expand(studies.validate_spec(TINY_STUDY), min_img_size=nets.min_img_size)[0]
    declared = set(papermill.inspect_notebook(str(sweep.NOTEBOOK)))
    assert set(sweep.notebook_parameters(cell, "results")) <= declared


def test_a_run_without_figures_records_the_same_row_and_draws_nothing(tmp_path: Path):
    cell = studies.expand(studies.load_spec(write_spec(tmp_path, seeds=[0])), min_img_size=nets.min_img_size)[0]
    assert sweep.notebook_parameters(cell, "results", figures=False)["figures"] is False
    images = {}
    for figures in (True, False):
        outputs = tmp_path / f"outputs-{figures}"
        status = sweep.execute_cell(cell, tmp_path / f"results-{figures}", outputs, figures=figures)
        assert status == "ok"
        executed = nbformat.read(sweep.output_notebook(cell, outputs), as_version=4)
        images[figures] = sum("image/png" in output.get("data", {})
                              for code in executed.cells if code.cell_type == "code"
                              for output in code.get("outputs", []))
    assert images[True] >= 3 and images[False] == 0
    rows = [results.read_table(tmp_path / f"results-{figures}" / "tiny" / "runs.csv",
                               results.RUN_COLUMNS).iloc[0] for figures in (True, False)]
    for column in ("run_id", "status", "test_acc", "val_best", "num_params_trained",
                   "flops_per_image"):
        assert rows[0][column] == rows[1][column], column


def test_a_sweep_into_an_unwritable_folder_refuses_to_start(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ResultsNotWritableError):
        sweep.run_sweep(write_spec(tmp_path), results_dir=blocker / "results",
                        outputs_dir=tmp_path / "outputs", progress=False)
    assert not (tmp_path / "outputs").exists()


def test_grid_expands_with_stable_ids_and_per_model_sizes(tmp_path: Path):
    spec = studies.load_spec(write_spec(tmp_path, models=["test_resnet", "test_efficientnet"],
                                      img_size={"test_efficientnet": 32, "default": 28}))
    cells = studies.expand(spec, min_img_size=nets.min_img_size)
    assert len(cells) == 2 * 3
    assert {c["img_size"] for c in cells if c["model"] == "test_efficientnet"} == {32}
    assert all(c["run_id"] == results.run_id(c) for c in cells)
    assert len({c["run_id"] for c in cells}) == 6
    assert [c["run_id"] for c in studies.expand(spec, min_img_size=nets.min_img_size)] == [c["run_id"] for c in cells]


def test_auto_img_size_is_the_zoos_minimum(tmp_path: Path):
    from pepr.training import nets

    spec = studies.load_spec(write_spec(tmp_path, img_size="auto"))
    minimum = int(nets.get_model_info("test_resnet")["min_img_size"])
    assert {c["img_size"] for c in studies.expand(spec, min_img_size=nets.min_img_size)} == {minimum}


def test_a_notebook_that_dies_gets_a_failed_row(tmp_path: Path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("model = None", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("raise SystemError('kernel trouble')")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    cell = studies.expand(studies.load_spec(write_spec(tmp_path)), min_img_size=nets.min_img_size)[0]
    status = sweep.execute_cell(cell, tmp_path / "results", tmp_path / "outputs", notebook=path)
    assert status == "failed"
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert runs["status"].tolist() == ["failed"]
    assert runs["error"].iloc[0] == "SystemError: kernel trouble [notebook cell 2]"  # 2: after the injected parameters
    assert runs["run_id"].iloc[0] == cell["run_id"]


@pytest.mark.slow
def test_a_failure_after_the_row_is_written_keeps_the_finished_run(tmp_path: Path):
    notebook = nbformat.read(sweep.NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('a plot failed')"))
    path = tmp_path / "plot_fails.ipynb"
    nbformat.write(notebook, path)
    cell = studies.expand(studies.load_spec(write_spec(tmp_path, seeds=[0])), min_img_size=nets.min_img_size)[0]
    status = sweep.execute_cell(cell, tmp_path / "results", tmp_path / "outputs", notebook=path)
    assert status == "ok"
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert runs["status"].tolist() == ["ok"] and runs["threads"].tolist() == [1]


def test_the_notebook_records_before_it_plots():
    notebook = nbformat.read(sweep.NOTEBOOK, as_version=4)
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    record = next(i for i, text in enumerate(sources) if "append_result" in text)
    plots = [i for i, text in enumerate(sources) if "runplots." in text]
    assert plots and record < min(plots)


def _ok_rows(results_dir: Path) -> "list[str]":
    runs = results.read_table(results_dir / "tiny" / "runs.csv", results.RUN_COLUMNS)
    return runs.loc[runs["status"] == "ok", "run_id"].tolist()


def _sweep_command(spec: Path, results_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pepr", "sweep", str(spec), "--results-dir", str(results_dir),
            "--outputs-dir", str(results_dir.parent / "outputs"), "--no-progress", *extra]


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_one_ok_row_per_run(tmp_path: Path):
    spec = write_spec(tmp_path)
    results_dir = tmp_path / "results"
    expected = {c["run_id"] for c in studies.expand(studies.load_spec(spec), min_img_size=nets.min_img_size)}
    process = subprocess.Popen(_sweep_command(spec, results_dir), cwd=REPO_ROOT,
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _ok_rows(results_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its notebook kernel, mid-run
    process.wait()
    done_before = set(_ok_rows(results_dir))
    assert 1 <= len(done_before) < 3
    resumed = subprocess.run(_sweep_command(spec, results_dir), cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{len(done_before)} already done" in resumed.stdout
    ok = _ok_rows(results_dir)
    assert sorted(ok) == sorted(expected)  # exactly one ok row per run
    epochs = results.read_table(results_dir / "tiny" / "epochs.csv", results.EPOCH_COLUMNS)
    assert set(epochs["run_id"]) >= expected


@pytest.mark.slow
def test_dask_executor_with_two_workers_gives_the_same_runs(tmp_path: Path):
    spec = write_spec(tmp_path)
    results_dir = tmp_path / "dask-results"
    summary = sweep.run_sweep(spec, results_dir=results_dir, executor="dask", workers=2,
                              outputs_dir=tmp_path / "outputs", progress=False)
    assert (summary.ok, summary.failed) == (3, 0)
    expected = {c["run_id"] for c in studies.expand(studies.load_spec(spec), min_img_size=nets.min_img_size)}
    assert sorted(_ok_rows(results_dir)) == sorted(expected)
    again = sweep.run_sweep(spec, results_dir=results_dir, executor="dask", workers=2,
                            outputs_dir=tmp_path / "outputs", progress=False)
    assert (again.skipped, again.ok) == (3, 0)


def test_history_written_twice_by_a_rerun_loads_once(tmp_path: Path):
    rows = [{"run_id": "r1", "study": "tiny", "model": "m", "setting": "s", "epoch": 0,
             "split": "train", "metric": "loss", "value": value} for value in (0.9, 0.8)]
    results.append_epochs(rows[:1], "tiny", tmp_path)  # the killed attempt
    results.append_epochs(rows[1:], "tiny", tmp_path)  # the rerun
    epochs = results.load_epochs("tiny", tmp_path)
    assert epochs["value"].tolist() == [0.8]


@pytest.mark.slow
def test_existing_dask_cluster_and_process_pool_run_a_study(tmp_path: Path):
    from distributed import LocalCluster

    spec = write_spec(tmp_path, seeds=[0])
    expected = {c["run_id"] for c in studies.expand(studies.load_spec(spec), min_img_size=nets.min_img_size)}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        summary = sweep.run_sweep(spec, results_dir=tmp_path / "cluster",
                                  scheduler=cluster.scheduler_address,
                                  outputs_dir=tmp_path / "outputs", progress=False)
    assert summary.ok == 1 and set(_ok_rows(tmp_path / "cluster")) == expected
    summary = sweep.run_sweep(spec, results_dir=tmp_path / "pool", executor="processes",
                              workers=1, outputs_dir=tmp_path / "outputs", progress=False)
    assert summary.ok == 1 and set(_ok_rows(tmp_path / "pool")) == expected


def test_sub_grids_run_setting_by_setting_in_the_order_given(tmp_path: Path):
    spec = studies.load_spec(write_spec(
        tmp_path, models=["test_resnet", "test_efficientnet"], datasets=None, seeds=[0],
        grids=[{"datasets": ["synthetic"], "data_fractions": [1.0]},
               {"datasets": ["synthetic-rgb"], "data_fractions": [0.5, 1.0]},
               {"datasets": ["synthetic"], "seeds": [0, 1], "models": ["test_resnet"]}]))
    cells = studies.expand(spec, min_img_size=nets.min_img_size)
    order = [(c["dataset"], c["data_fraction"], c["seed"], c["model"]) for c in cells]
    assert order == [
        ("synthetic", 1.0, 0, "test_resnet"), ("synthetic", 1.0, 0, "test_efficientnet"),
        ("synthetic-rgb", 0.5, 0, "test_resnet"), ("synthetic-rgb", 0.5, 0, "test_efficientnet"),
        ("synthetic-rgb", 1.0, 0, "test_resnet"), ("synthetic-rgb", 1.0, 0, "test_efficientnet"),
        ("synthetic", 1.0, 1, "test_resnet"),  # (synthetic, 1.0, 0, test_resnet) ran above
    ]
    with pytest.raises(StudySpecError, match="a grid may only set"):
        studies.load_spec(write_spec(tmp_path, grids=[{"epochs": 3}]))


def test_cells_above_max_img_size_get_one_skipped_row_with_the_reason(tmp_path: Path):
    spec = write_spec(tmp_path, models=["test_resnet"], seeds=[0], img_size=64, max_img_size=32)
    for _ in range(2):
        summary = sweep.run_sweep(spec, results_dir=tmp_path / "results",
                                  outputs_dir=tmp_path / "outputs", progress=False)
        assert (summary.over_size, summary.ok, summary.failed) == (1, 0, 0)
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert runs["status"].tolist() == ["skipped"]
    assert "at least 64 px" in runs["error"].iloc[0] and "max_img_size 32" in runs["error"].iloc[0]


def test_a_derived_study_keeps_only_its_datasets_and_loads_back_the_same(tmp_path: Path):
    spec = studies.validate_spec({**TINY_STUDY, "datasets": ["synthetic", "synthetic-rgb"],
                                "grids": [{"datasets": ["synthetic-rgb"]},
                                          {"datasets": ["synthetic"], "seeds": [5]}]})
    derived = studies.derive_spec(spec, "tiny-gpu", ["synthetic"], hardware="a GPU")
    cells = studies.expand(derived, min_img_size=nets.min_img_size)
    assert {c["dataset"] for c in cells} == {"synthetic"} and {c["seed"] for c in cells} == {5}
    assert {c["study"] for c in cells} == {"tiny-gpu"} and derived["hardware"] == "a GPU"
    assert derived["notes"] == ""  # the source's notes describe the source
    path = studies.write_spec(derived, tmp_path / "studies" / "tiny-gpu.yml")
    assert [c["run_id"] for c in studies.expand(studies.load_spec(path), min_img_size=nets.min_img_size)] == [c["run_id"] for c in cells]
    with pytest.raises(StudySpecError, match="no grid"):
        studies.derive_spec(spec, "none", ["breastmnist"])


def test_in_process_runs_skip_what_is_ok_and_start_nothing_past_the_deadline(tmp_path: Path):
    cells = studies.expand(studies.load_spec(write_spec(tmp_path, seeds=[0, 1])), min_img_size=nets.min_img_size)
    results_dir = tmp_path / "results"
    first = sweep.train_in_process(cells[:1], results_dir, device="cpu", progress=False)
    assert first["ok"] == [cells[0]["run_id"]]
    late = sweep.train_in_process(cells, results_dir, device="cpu", deadline_s=10, progress=False)
    assert late["ok"] == [] and late["not started"] == [cells[1]["run_id"]]  # 0 left: skipped
    assert _ok_rows(results_dir) == [cells[0]["run_id"]]


def test_sigterm_inside_the_block_is_an_interrupt_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sweep.terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) == before


def test_end_runs_ends_every_child_and_grandchild_but_spares_older_ones():
    import psutil

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    spare = sweep.child_pids()  # what was there before the "sweep" (the bystander among them)
    assert bystander.pid in spare
    child = subprocess.Popen([sys.executable, "-c",
                              "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
                              "'import time; time.sleep(60)']); time.sleep(60)"])
    deadline = time.monotonic() + 30
    while len(psutil.Process(child.pid).children()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    family = [psutil.Process(child.pid), *psutil.Process(child.pid).children()]
    assert len(family) == 2
    assert sweep.end_runs(spare, grace_s=5) == 2
    child.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=5)
    assert not alive
    assert bystander.poll() is None  # not the sweep's to end
    bystander.kill()
    bystander.wait()


def _training_sweep(tmp_path: Path, executor: str, seeds: list[int]):
    """A sweep (started as a command) of runs long enough to be stopped mid-way, once one of its
    notebook kernels trains: the process, and its kernels then."""
    import psutil

    spec = write_spec(tmp_path, epochs=30, seeds=seeds)
    command = _sweep_command(spec, tmp_path / "results", "--executor", executor, "--workers", "1")
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    kernels: list = []
    while not kernels and time.monotonic() < deadline:
        time.sleep(0.2)
        kernels = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "ipykernel_launcher" in " ".join(p.cmdline())]
    assert kernels, "no kernel started"
    return process, kernels


@pytest.mark.slow
@pytest.mark.parametrize("executor, whom", [("processes", "sweep"), ("inline", "sweep"),
                                            ("processes", "family")])
def test_a_terminated_sweep_leaves_no_run_training(tmp_path: Path, executor: str, whom: str):
    """``kill PID`` reaches the sweep alone; ``pkill`` reaches the sweep, its workers and their
    kernels at once, and whichever dies first, the sweep ends the same way."""
    import psutil

    process, _ = _training_sweep(tmp_path, executor, seeds=[0, 1, 2])
    family = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    if whom == "family":
        for member in family:
            member.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "the same command resumes the rest" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
    assert not (tmp_path / "results" / "tiny" / "runs.csv").exists()  # no row: a resume trains it


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_alone(tmp_path: Path):
    import psutil

    process, kernels = _training_sweep(tmp_path, "processes", seeds=[0, 1])
    worker = kernels[0].parent()
    worker.kill()  # as the out-of-memory killer would
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr[-2000:]  # a failed run, and the sweep went on
    assert "1 ok, 1 failed" in stdout
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert runs["status"].tolist() == ["failed", "ok"]
    assert "SIGKILL" in runs["error"].iloc[0]
    _, alive = psutil.wait_procs(kernels, timeout=10)  # the orphaned kernel went too
    assert not alive


def test_a_worker_that_ended_without_a_row_fails_its_run_unless_it_was_stopped(tmp_path: Path):
    cell = studies.expand(studies.load_spec(write_spec(tmp_path)), min_img_size=nets.min_img_size)[0]
    since = sweep._now()
    with pytest.raises(KeyboardInterrupt):  # stopped with the sweep: no row, a resume trains it
        sweep.worker_ended(-signal.SIGTERM, cell, tmp_path, since)
    assert not (tmp_path / "tiny" / "runs.csv").exists()
    assert sweep.worker_ended(-signal.SIGKILL, cell, tmp_path, since) == "failed"
    runs = results.read_table(tmp_path / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert runs["run_id"].tolist() == [cell["run_id"]]
    assert "SIGKILL" in runs["error"].iloc[0] and "out-of-memory" in runs["error"].iloc[0]
    assert "exited with code 1" in sweep.describe_exit(1)
    results.append_run({**{k: cell[k] for k in results.RUN_COLUMNS if k in cell},
                        "status": "ok", "started_at": sweep._now()}, tmp_path)
    assert sweep.worker_ended(-signal.SIGTERM, cell, tmp_path, since) == "ok"  # its row counts


@pytest.mark.slow
def test_a_dask_run_whose_workers_all_die_fails_alone(tmp_path: Path):
    """A run that kills every Dask worker that tries it (as one too large for memory would) ends
    as ``KilledWorker``; it gets a ``failed`` row that says so and the other runs finish."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("import os, signal\n"
                                                "if seed == 1: os.kill(os.getppid(), signal.SIGKILL)\n"
                                                "raise SystemError('no row')")]
    path = tmp_path / "kills.ipynb"
    nbformat.write(notebook, path)
    cells = studies.expand(studies.load_spec(write_spec(tmp_path, seeds=[0, 1])), min_img_size=nets.min_img_size)
    job = dict(results_dir=str(tmp_path / "results"), outputs_dir=str(tmp_path / "outputs"),
               notebook=str(path))
    statuses = sweep._run_dask(cells, job, workers=1, scheduler=None, progress=False,
                               spare=sweep.child_pids())
    assert statuses == ["failed", "failed"]
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert sorted(runs["seed"]) == [0, 1]  # one row each: the finished run is not run again
    errors = dict(zip(runs["seed"], runs["error"]))
    assert errors[0].startswith("SystemError: no row")
    assert errors[1].startswith("KilledWorker")


def test_a_second_sweep_of_a_locked_study_refuses_in_one_line(tmp_path: Path, capsys):
    from pepr import cli
    from pepr.core import locks
    from pepr.core.errors import StudyBusyError

    spec = write_spec(tmp_path)
    results_dir = tmp_path / "results"
    with locks.study_lock("tiny", results_dir / "tiny"):
        with pytest.raises(StudyBusyError, match=f"pid {os.getpid()}"):
            sweep.run_sweep(spec, results_dir=results_dir, outputs_dir=tmp_path / "outputs",
                            progress=False)
        code = cli.main(["sweep", str(spec), "--results-dir", str(results_dir),
                         "--outputs-dir", str(tmp_path / "outputs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already being swept" in err
    assert not (results_dir / "tiny" / "runs.csv").exists()  # nothing trained
    with locks.study_lock("tiny", results_dir / "tiny"):  # released: it can be taken again
        pass
    assert not (results_dir / "tiny" / locks.HOLDER_NAME).exists()


def test_a_run_found_ok_just_before_it_trains_is_not_trained_again(tmp_path: Path):
    cell = studies.expand(studies.load_spec(write_spec(tmp_path)), min_img_size=nets.min_img_size)[0]
    results.append_run({**{k: cell[k] for k in results.RUN_COLUMNS if k in cell},
                        "status": "ok", "started_at": "2026-01-01T00:00:00+00:00"},
                       tmp_path / "results")  # finished by another process before this one
    since = sweep._now()
    status = sweep.execute_cell(cell, tmp_path / "results", tmp_path / "outputs",
                                notebook=tmp_path / "never-opened.ipynb", skip_done=True)
    assert status == sweep.DONE
    assert sweep.worker_ended(0, cell, tmp_path / "results", since) == sweep.DONE
    runs = results.read_table(tmp_path / "results" / "tiny" / "runs.csv", results.RUN_COLUMNS)
    assert len(runs) == 1


@pytest.mark.slow
def test_two_sweeps_started_together_train_each_run_once(tmp_path: Path):
    spec = write_spec(tmp_path)
    results_dir = tmp_path / "results"
    first = subprocess.Popen(_sweep_command(spec, results_dir), cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = results_dir / "tiny" / "sweep.lock.json"
    deadline = time.monotonic() + 60
    while not holder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    second = subprocess.run(_sweep_command(spec, results_dir), cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    waited = time.monotonic() - started
    assert second.returncode == 2, second.stderr[-2000:]
    assert second.stderr.count("\n") == 1 and f"pid {first.pid}" in second.stderr
    assert waited < 30  # it refused at once, not after the first sweep's runs
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    expected = {c["run_id"] for c in studies.expand(studies.load_spec(spec), min_img_size=nets.min_img_size)}
    assert sorted(_ok_rows(results_dir)) == sorted(expected)  # one ok row per run


def test_the_readme_names_every_study_key():
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    import re

    sentence = re.sub(r"\([^)]*\)", "", readme.split("has the keys `", 1)[1].split("`", 1)[0])
    named = {key.strip() for key in sentence.split(",")}
    assert named == set(studies.SPEC_DEFAULTS) | set(studies.DOC_KEYS)
