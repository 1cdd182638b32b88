"""``pepr run``: arguments validated before papermill starts; a real run appends its rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pepr import cli
from pepr.store import results
from pepr.training import nets

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The smallest input convnext_atto takes (data/zoo.csv): 28 px is below it.
CONVNEXT_MIN_PX = int(nets.get_model_info("convnext_atto")["min_img_size"])


def run_cli(capsys, tmp_path: Path, *args: str) -> tuple[int, str]:
    code = cli.main(["run", *args, "--results-dir", str(tmp_path / "results"),
                     "--outputs-dir", str(tmp_path / "outputs")])
    return code, capsys.readouterr().err


def assert_no_rows(tmp_path: Path) -> None:
    assert not list((tmp_path / "results").glob("*/runs.csv"))


@pytest.mark.parametrize("args, message", [
    (["--model", "no_such_net", "--dataset", "synthetic"], "unknown model"),
    (["--model", "test_resnet", "--dataset", "no_such_data"], "unknown dataset"),
    (["--model", "convnext_atto", "--dataset", "synthetic", "--img-size", "28"], f"at least {CONVNEXT_MIN_PX} px"),
    (["--model", "test_resnet", "--dataset", "synthetic", "--epochs", "0"], "epochs"),
    (["--model", "test_resnet", "--dataset", "synthetic", "--pretrained", "/no/such.pt"],
     "not a file"),
])
def test_bad_arguments_give_one_line_and_no_row(capsys, tmp_path, args, message):
    code, err = run_cli(capsys, tmp_path, *args)
    assert code == cli.EXIT_USER_ERROR
    assert message in err and len(err.strip().splitlines()) == 1
    assert_no_rows(tmp_path)
    assert not (tmp_path / "results").exists() and not (tmp_path / "outputs").exists()  # nothing left


def test_missing_data_offline_is_one_line(capsys, tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv("PEPR_DATA_DIR", str(tmp_path / "empty"))
    code, err = run_cli(capsys, tmp_path, "--model", "test_resnet", "--dataset", "breastmnist")
    assert code == cli.EXIT_USER_ERROR and len(err.strip().splitlines()) == 1
    assert "breastmnist" in err
    assert_no_rows(tmp_path)


def test_truncated_npz_is_one_line(capsys, tmp_path, monkeypatch, data_dir, isolated_cache):
    medmnist_dir = tmp_path / "data" / "medmnist"
    medmnist_dir.mkdir(parents=True)
    original = (data_dir / "medmnist" / "breastmnist.npz").read_bytes()
    (medmnist_dir / "breastmnist.npz").write_bytes(original[: len(original) // 2])
    monkeypatch.setenv("PEPR_DATA_DIR", str(tmp_path / "data"))
    code, err = run_cli(capsys, tmp_path, "--model", "test_resnet", "--dataset", "breastmnist")
    assert code == cli.EXIT_USER_ERROR and len(err.strip().splitlines()) == 1
    assert "breastmnist" in err
    assert_no_rows(tmp_path)


@pytest.mark.slow
def test_a_run_executes_the_notebook_and_appends_its_rows(tmp_path: Path):
    command = [sys.executable, "-m", "pepr", "run", "--model", "test_resnet", "--dataset",
               "synthetic", "--epochs", "2", "--study", "clitest", "--threads", "1",
               "--results-dir", str(tmp_path / "results"), "--outputs-dir", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = results.load("clitest", tmp_path / "results")
    assert len(runs) == 1 and runs["status"].iloc[0] == "ok"
    assert runs["threads"].iloc[0] == 1
    assert runs["run_id"].iloc[0] in done.stdout
    epochs = results.load_epochs("clitest", tmp_path / "results")
    assert set(epochs["split"]) == {"train", "val", "test"}
    executed = list((tmp_path / "out" / "clitest").glob("*.ipynb"))
    assert len(executed) == 1


def test_an_unwritable_results_folder_is_one_line_before_training(capsys, tmp_path: Path):
    blocker = tmp_path / "read-only"
    blocker.write_text("")  # a file where the folder should be: nothing can be written under it
    code = cli.main(["run", "--model", "test_resnet", "--dataset", "synthetic",
                     "--results-dir", str(blocker / "results"),
                     "--outputs-dir", str(tmp_path / "outputs")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert "cannot write results" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow  # one papermill run (a few seconds)
def test_a_run_through_papermill_prints_no_kernel_start_up_noise(capfd, tmp_path):
    code = cli.main(["run", "--model", "test_resnet", "--dataset", "synthetic", "--epochs", "1",
                     "--img-size", "32", "--results-dir", str(tmp_path / "results"),
                     "--outputs-dir", str(tmp_path / "outputs")])
    out, err = capfd.readouterr()
    assert code == 0 and " ok: " in out + err
    assert "IPKernelApp" not in err and "without encryption" not in err
