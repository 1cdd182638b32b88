"""Tests for pepr.render: a study's report (executed notebook and HTML page) and the book's
generated chapters. The tests that execute a notebook are marked slow."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from pepr.core import paths
from pepr.core.errors import (
    BadParameterError,
    EmptyStudyError,
    NotebookError,
    UnknownStudyError,
)
from pepr.reporting import render


def test_unknown_study_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UnknownStudyError, match="no results for study 'nope'"):
        render.render_report("nope", results_dir=tmp_path / "results", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_empty_study_is_one_clear_error(tmp_path: Path, make_study) -> None:
    make_study(tmp_path / "results", "empty", settings=())
    with pytest.raises(EmptyStudyError) as caught:
        render.render_report("empty", results_dir=tmp_path / "results", output_dir=tmp_path / "out")
    message = str(caught.value)
    assert "'empty' has no runs yet" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_a_parameter_the_template_does_not_declare_is_refused(tiny_study, tmp_path: Path) -> None:
    study, results_dir = tiny_study
    assert {"study", "results_dir", "pool", "rank_by", "title"} <= set(render.template_parameters())
    with pytest.raises(BadParameterError, match="'colour'") as caught:
        render.render_report(study, results_dir, tmp_path / "out", colour="red", pool="setting")
    assert "'pool'" not in str(caught.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_report_is_an_executed_notebook_and_one_html_page(tiny_study, tmp_path: Path) -> None:
    study, results_dir = tiny_study
    report = render.render_report(study, results_dir, tmp_path / "out", rank_by="test_acc")
    assert report == render.RenderedReport(notebook=tmp_path / "out" / study / "report.ipynb",
                                           html=tmp_path / "out" / study / "report.html")
    executed = nbformat.read(report.notebook, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and f'study = "{study}"' in injected[0].source
    assert 'rank_by = "test_acc"' in injected[0].source
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)  # every cell ran

    html = report.html.read_text(encoding="utf-8")
    from bs4 import BeautifulSoup

    body = BeautifulSoup(html, "html.parser").body.get_text()
    assert study in body
    assert f'study = "{study}"' not in html  # code is hidden
    assert ":::{" not in body and "{download}" not in body  # MyST became plain Markdown
    assert "Key findings" in body and "Table 1." in body and "Figure 1." in body
    images = sum("image/png" in output.get("data", {}) for c in code for output in c.outputs)
    assert html.count("data:image/png;base64") >= images  # figures are inside the page


@pytest.mark.slow
def test_a_cell_that_raises_is_one_error_naming_the_cell(tiny_study, tmp_path: Path) -> None:
    study, results_dir = tiny_study
    template = tmp_path / "failing.ipynb"
    node = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('study = "x"\nresults_dir = None', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(study)"),
        nbformat.v4.new_code_cell("raise ValueError('no such column\\n in the table')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(node, template)
    with pytest.raises(NotebookError) as caught:
        render.render_report(study, results_dir, tmp_path / "out", template=template)
    error = caught.value
    assert error.ename == "ValueError" and "no such column" in error.evalue
    # the executed copy has the injected cell after the parameters cell: the raising cell is 3
    assert error.cell_index == 3
    assert "\n" not in str(error) and "cell 3 raised ValueError: no such column in the table" in str(error)
    assert Path(error.notebook).exists() and not (tmp_path / "out" / study / "report.html").exists()


def _generated(path: Path) -> dict:
    return {"cells": [], "metadata": {render.GENERATED_KEY: {"study": path.stem}},
            "nbformat": 4, "nbformat_minor": 5}


def test_book_chapters_one_per_study_with_runs_injected_not_executed(tmp_path: Path, make_study) -> None:
    root = tmp_path / "book_root"
    results_dir = root / "data" / "results"
    make_study(results_dir, "zeta", settings=("a",))
    make_study(results_dir, "alpha")
    make_study(results_dir, "empty", settings=())
    chapters = root / render.CHAPTERS_DIR
    chapters.mkdir(parents=True)
    (chapters / "gone.ipynb").write_text(json.dumps(_generated(chapters / "gone.ipynb")))
    (chapters / "empty.ipynb").write_text(json.dumps(_generated(chapters / "empty.ipynb")))
    handwritten = chapters / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), handwritten)

    written = render.prepare_book_chapters(root, template=paths.REPORT_NOTEBOOK)

    assert written == [chapters / "alpha.ipynb", chapters / "zeta.ipynb"]
    assert sorted(p.name for p in chapters.glob("*.ipynb")) == ["alpha.ipynb", "notes.ipynb", "zeta.ipynb"]
    for path in written:
        node = nbformat.read(path, as_version=4)
        injected = [c for c in node.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        assert f'study = "{path.stem}"' in injected[0].source
        assert f'results_dir = "{results_dir}"' in injected[0].source  # not the default folder
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in node.cells if c.cell_type == "code")
        assert render.is_generated(path)
    assert not render.is_generated(handwritten)


def test_book_chapters_of_the_default_folders_keep_the_templates_defaults(
        tmp_path: Path, make_study, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "book_root"
    monkeypatch.setattr(paths, "RESULTS_DIR", root / "data" / "results")
    monkeypatch.setattr(paths, "STUDIES_DIR", root / "data" / "studies")
    make_study(paths.RESULTS_DIR, "tiny")
    (written,) = render.prepare_book_chapters(root, template=paths.REPORT_NOTEBOOK)
    injected = next(c for c in nbformat.read(written, as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert 'study = "tiny"' in injected.source
    assert "results_dir" not in injected.source and "studies_dir" not in injected.source


def test_no_results_no_chapters(tmp_path: Path) -> None:
    assert render.prepare_book_chapters(tmp_path, template=tmp_path / "absent.ipynb") == []
    assert not (tmp_path / render.CHAPTERS_DIR).exists()


def test_generated_chapters_name_their_figures_for_their_study(tmp_path: Path, make_study) -> None:
    root = tmp_path / "book_root"
    make_study(root / "data" / "results", "alpha")
    make_study(root / "data" / "results", "beta")
    names = {}
    for path in render.prepare_book_chapters(root, template=paths.REPORT_NOTEBOOK):
        node = nbformat.read(path, as_version=4)
        names[path.stem] = [c.metadata["mystnb"]["figure"]["name"] for c in node.cells
                            if "figure" in c.metadata.get("mystnb", {})]
    assert names["alpha"] and all(name.startswith("fig-rerun-alpha-") for name in names["alpha"])
    assert not set(names["alpha"]) & set(names["beta"])
    assert not any(render.STUDY_PLACEHOLDER in name for name in names["alpha"] + names["beta"])


def test_plain_markdown_turns_myst_into_what_nbconvert_renders() -> None:
    counts = {"Table": 0}
    table = (":::{table} Runs per setting ({download}`CSV </outputs/tables/t.csv>`)\n:name: tbl-t\n"
             ":class: pepr-table\n\n| a | b |\n|:--|--:|\n| x | 1 |\n:::\n")
    text = render.plain_markdown(table, counts)
    assert text.splitlines()[:2] == ["**Table 1.** Runs per setting", ""]
    assert "| x | 1 |" in text and ":::" not in text and "download" not in text
    assert render.plain_markdown(table, counts).startswith("**Table 2.**")
    box = render.plain_markdown(":::{admonition} Key findings\n:class: note\n\n- one\n- two\n:::\n")
    assert box == "> **Key findings**\n>\n> - one\n> - two\n"
    assert render.plain_markdown("no directive here") == "no directive here"
    assert render.plain_roles("see {numref}`fig-a` and {doc}`the x </a/b>`") == "see fig-a and the x"


def test_plain_outputs_captions_each_figure_once_and_numbers_them() -> None:
    node = nbformat.v4.new_notebook()
    for index in range(2):
        cell = nbformat.v4.new_code_cell("x", metadata={"mystnb": {"figure": {"caption": f"caption {index}"}}})
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})]
        node.cells.append(cell)
    plain = render.plain_outputs(node)
    captions = [o["data"]["text/markdown"] for c in plain.cells for o in c.outputs if "text/markdown" in o["data"]]
    assert captions == ["**Figure 1.** caption 0", "**Figure 2.** caption 1"]
    assert all(len(c.outputs) == 1 for c in node.cells)  # the executed notebook is left as it was
