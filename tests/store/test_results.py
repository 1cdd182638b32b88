"""The results store: the release mapped into the schema, its audit, atomic appends, loading."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pepr.core.errors import (
    CorruptDataError,
    ResultsNotWritableError,
    UnknownStudyError,
)
from pepr.store import results


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return results.raw_paper()


@pytest.fixture(scope="module")
def paper(raw: pd.DataFrame) -> pd.DataFrame:
    return results.import_paper(raw)


def test_import_keeps_every_run_and_the_schema(raw: pd.DataFrame, paper: pd.DataFrame) -> None:
    assert len(paper) == len(raw)
    assert paper.columns[: len(results.RUN_COLUMNS)].tolist() == results.RUN_COLUMNS
    assert paper["run_id"].is_unique
    assert set(paper["setting"]) == set(results.PAPER_SETTINGS)


def test_import_maps_values_row_by_row(raw: pd.DataFrame, paper: pd.DataFrame) -> None:
    np.testing.assert_array_equal(paper["test_acc"], raw["test_09"])
    np.testing.assert_array_equal(paper["energy_kwh"], raw["energy"])
    np.testing.assert_array_equal(paper["co2_g"], raw["co2"])
    np.testing.assert_array_equal(paper["peak_mem_gb"], raw["memR"])
    np.testing.assert_array_equal(paper["train_time_s"], raw["train_time"])
    assert (paper["train_time_scope"] == "last-epoch").all()
    assert (paper["energy_method"] == "imported").all()
    assert (paper["mem_kind"] == "gpu-reserved").all()


def test_settings_derive_dataset_pretraining_and_fraction(paper: pd.DataFrame) -> None:
    by_setting = paper.drop_duplicates("setting").set_index("setting")
    assert by_setting.loc["derma", "pretrained"] == False  # noqa: E712 - a bool column
    assert by_setting.loc["derma_pt", "pretrained"] == True  # noqa: E712
    assert by_setting.loc["pneumonia_small", "data_fraction"] == 0.1
    assert by_setting.loc["lidc", "dataset"] == "lidc-idri"


def test_stale_resource_rows_repeat_another_setting(paper: pd.DataFrame) -> None:
    stale = paper[paper["flag_stale_resources"]]
    assert len(stale) > 100  # several hundred in the release
    # every flagged row has a twin with the same model, energy and CO2 in another setting
    for _, row in stale.head(25).iterrows():
        twins = paper[(paper["model"] == row["model"]) & (paper["energy_kwh"] == row["energy_kwh"])
                      & (paper["co2_g"] == row["co2_g"]) & (paper["setting"] != row["setting"])]
        assert len(twins) >= 1
    fresh = paper[~paper["flag_stale_resources"]]
    assert not fresh.duplicated(["model", "energy_kwh", "co2_g"], keep=False).any()


def test_stale_mask_on_a_constructed_table() -> None:
    table = pd.DataFrame({
        "model": ["a", "a", "a", "b"], "setting": ["x", "y", "z", "x"],
        "energy_kwh": [1.0, 1.0, 2.0, 1.0], "co2_g": [5.0, 5.0, 5.0, 5.0],
    })
    assert results.stale_resource_mask(table).tolist() == [True, True, False, False]


def test_repeated_resource_groups_number_each_repeated_value() -> None:
    table = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b", "b"], "setting": ["x", "y", "z", "x", "y", "z"],
        "energy_kwh": [1.0, 2.0, 1.0, 3.0, 3.0, 4.0], "co2_g": [5.0, 5.0, 5.0, 6.0, 6.0, 7.0],
    })
    groups = results.repeated_resource_groups(table)
    assert groups.tolist() == [0, pd.NA, 0, 1, 1, pd.NA]
    assert results.stale_resource_mask(table).tolist() == groups.notna().tolist()
    # one setting repeating its own value is no repeat across settings
    same = table.assign(setting=["x", "x", "x", "y", "y", "y"])
    assert results.repeated_resource_groups(same).isna().all()


def test_audit_counts(raw: pd.DataFrame) -> None:
    audit = results.audit_paper(raw)
    assert audit["runs"] == len(raw)
    assert audit["stale_resource_rows"] == sum(audit["stale_resource_rows_by_setting"].values())
    paper = results.import_paper(raw)
    flagged = paper[paper["flag_stale_resources"]]
    assert audit["stale_resource_groups"] == len(flagged.drop_duplicates(["model", "energy_kwh", "co2_g"]))
    assert audit["stale_resource_min_copies"] == audit["stale_resource_rows"] - audit["stale_resource_groups"]
    assert "infer_time" in audit["constant_columns"]  # the release never filled it
    assert "memA" in audit["unused_columns"] and "energy" not in audit["unused_columns"]


def test_epochs_table(paper: pd.DataFrame) -> None:
    epochs = results.load_epochs("paper")
    assert len(epochs) == 10 * len(paper)
    last = epochs[epochs["epoch"] == 9].set_index("run_id")["value"]
    np.testing.assert_array_equal(last.loc[paper["run_id"]].to_numpy(), paper["test_acc"].to_numpy())


def test_run_id_is_stable_and_sensitive() -> None:
    cell = {"study": "s", "model": "resnet18", "dataset": "breastmnist", "pretrained": False,
            "data_fraction": 1.0, "seed": 0, "img_size": 28, "epochs": 10, "batch_size": 32,
            "optimizer": "adam", "lr": 5e-4}
    assert results.run_id(cell) == results.run_id({**cell, "data_fraction": 1, "img_size": np.int64(28)})
    assert results.run_id(cell) != results.run_id({**cell, "seed": 1})


def row(i: int, study: str = "demo", status: str = "ok") -> dict:
    return {"run_id": f"r{i}", "study": study, "model": "m,with comma", "status": status,
            "test_acc": 0.5 + i / 100, "pretrained": False}


def test_append_and_load_round_trip(tmp_path: Path) -> None:
    for i in range(3):
        results.append_run(row(i), tmp_path)
    results.append_run(row(1, status="failed"), tmp_path)
    runs = results.load("demo", tmp_path)
    assert runs["run_id"].tolist() == ["r0", "r1", "r2"]
    assert runs["model"].iloc[0] == "m,with comma"
    assert runs["pretrained"].iloc[0] is False or runs["pretrained"].iloc[0] == False  # noqa: E712
    assert results.completed_run_ids("demo", tmp_path) == {"r0", "r1", "r2"}
    assert len(results.load("demo", tmp_path, include_failed=True)) == 3  # last row per run id


def test_append_refuses_unknown_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in the schema"):
        results.append_run({**row(0), "bogus": 1}, tmp_path)


def test_a_torn_last_line_is_dropped_and_the_next_append_is_clean(tmp_path: Path) -> None:
    path = results.append_run(row(0), tmp_path)
    with open(path, "a") as handle:
        handle.write("r9,demo,half a row")  # a writer killed mid-line
    results.append_run(row(1), tmp_path)
    with pytest.warns(UserWarning, match="incomplete"):
        runs = results.load("demo", tmp_path)
    assert runs["run_id"].tolist() == ["r0", "r1"]


def _real_rows(count: int) -> list[dict]:
    """The first ``count`` ok rows of the CPU study's table (real quoting)."""
    runs = results.read_table(results.DEFAULT_RESULTS_DIR / "cpu-rerun" / "runs.csv",
                              results.RUN_COLUMNS)
    runs = runs[runs["status"] == "ok"].head(count)
    return runs.astype(object).where(runs.notna(), None).to_dict("records")


def test_a_tear_inside_a_quoted_field_loses_no_later_row(tmp_path: Path) -> None:
    first, second, torn, new = _real_rows(4)
    path = results.append_run(first, tmp_path)
    results.append_run(second, tmp_path)
    line = results._format_row(torn, results.RUN_COLUMNS)
    assert '"' in line
    cut = line.index('"', line.index("breastmnist: ")) + 20  # inside the quoted data_summary
    with open(path, "a") as handle:
        handle.write(line[:cut])  # the writer died here
    results.append_run(new, tmp_path)  # the next run's row
    with pytest.warns(UserWarning, match=f"line 4 \\(run {torn['run_id']}\\)"):
        runs = results.load(str(first["study"]), tmp_path)
    assert runs["run_id"].tolist() == [first["run_id"], second["run_id"], new["run_id"]]
    assert runs["data_summary"].iloc[-1] == new["data_summary"]


def test_records_resume_after_each_tear() -> None:
    text = ('a,b\n1,"x\n'        # torn inside a quoted field
            '2,"two, quoted"\n'
            '3\n'                 # torn: too few fields
            '\n'                  # blank
            '4,"y ""quoted"""\n')
    header, records, torn = results.split_records(text)
    assert header == ["a", "b"]
    assert records == [["2", "two, quoted"], ["4", 'y "quoted"']]
    assert [number for number, _ in torn] == [2, 4]


def test_a_line_break_inside_a_value_is_written_as_a_space(tmp_path: Path) -> None:
    results.append_run({**row(0), "error": "Traceback\nValueError: bad"}, tmp_path)
    results.append_run(row(1), tmp_path)
    runs = results.load("demo", tmp_path)
    assert runs["error"].iloc[0] == "Traceback ValueError: bad" and len(runs) == 2


def test_load_prefers_a_runs_ok_row_over_a_later_failure(tmp_path: Path) -> None:
    results.append_run(row(0), tmp_path)
    results.append_run(row(0, status="failed"), tmp_path)  # a second attempt that failed
    results.append_run(row(1, status="skipped"), tmp_path)
    runs = results.load("demo", tmp_path, include_failed=True)
    assert runs.set_index("run_id")["status"].to_dict() == {"r0": "ok", "r1": "skipped"}


def _append_many(args: tuple[str, int]) -> None:
    directory, worker = args
    for i in range(40):
        results.append_run(row(worker * 1000 + i), directory)


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_many, [(str(tmp_path), w) for w in range(4)])
    runs = results.load("demo", tmp_path)
    assert len(runs) == 160 and runs["run_id"].is_unique


@pytest.mark.parametrize("run_id", ["012345678901", "1234e5678901", "000000000007",
                                    "799373341497", "12345678901e"])
def test_ids_that_look_like_numbers_stay_text(tmp_path: Path, run_id: str) -> None:
    results.append_run({**row(0), "run_id": run_id}, tmp_path)
    runs = results.load("demo", tmp_path)
    assert runs["run_id"].tolist() == [run_id]
    assert results.completed_run_ids("demo", tmp_path) == {run_id}


def test_columns_have_the_schemas_types(tmp_path: Path) -> None:
    results.append_run({**row(0), "seed": 3, "img_size": 28, "threads": 1, "git_sha": "1234567",
                        "torch_version": "2.14", "model": "123"}, tmp_path)
    runs = results.load("demo", tmp_path)
    assert runs["seed"].dtype == "int64" and runs["test_acc"].dtype == "float64"
    assert runs["git_sha"].iloc[0] == "1234567" and runs["torch_version"].iloc[0] == "2.14"
    assert runs["model"].iloc[0] == "123"
    assert runs["num_params"].isna().all()  # empty integer column: float NaN, not an error


def test_text_in_a_number_column_is_corrupt_data(tmp_path: Path) -> None:
    results.append_run({**row(0), "test_acc": "high"}, tmp_path)
    with pytest.raises(CorruptDataError, match="test_acc"):
        results.load("demo", tmp_path)


def test_an_older_schema_is_read_and_upgraded_before_an_append(tmp_path: Path) -> None:
    old_columns = [c for c in results.RUN_COLUMNS
                   if c not in ("threads", "num_params_trained", "run_mem_gb", "data_summary")]
    old = {**row(0), "num_params": 810386}
    path = tmp_path / "demo" / "runs.csv"
    results.append_rows(path, [old], old_columns)
    runs = results.load("demo", tmp_path)
    assert runs["num_params_trained"].tolist() == [810386]  # the old name meant the trained model
    assert runs["num_params"].isna().all()
    results.append_run(row(1), tmp_path)
    assert path.read_text().splitlines()[0].split(",") == results.RUN_COLUMNS
    assert results.load("demo", tmp_path)["run_id"].tolist() == ["r0", "r1"]


def test_an_unwritable_results_folder_is_found_before_anything_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ResultsNotWritableError, match="cannot write results"):
        results.check_writable(blocker / "results", "demo")
    assert results.check_writable(tmp_path / "results", "demo") == tmp_path / "results" / "demo"


def test_unknown_study(tmp_path: Path) -> None:
    with pytest.raises(UnknownStudyError, match="paper"):
        results.load("nope", tmp_path)


def test_the_write_check_leaves_no_folder_behind(tmp_path):
    from pepr.store import results as store

    target = tmp_path / "new" / "results"
    assert store.check_writable(target, "mystudy") == target / "mystudy"
    assert not (tmp_path / "new").exists()  # created for the check, removed after it
    (target / "mystudy").mkdir(parents=True)
    store.check_writable(target, "mystudy")
    assert (target / "mystudy").is_dir()  # a folder that was there stays
