"""Tests for the book: the build command, a full build of every chapter, and the build's failure
on a missing glue key. The builds are slow (they execute every notebook)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from pepr.core import cache, paths
from pepr.reporting import book
from pepr.scoring import analysis, score, verdicts
from pepr.store import results

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_build_command_fails_on_warnings():
    command = book.build_command(REPO_ROOT)
    assert command[1:3] == ["build", str(REPO_ROOT)]
    assert {"-W", "-n", "--keep-going", "--all"} <= set(command)
    assert "-W" not in book.build_command(REPO_ROOT, strict=False)


def test_glue_values_converts_numpy_scalars():
    import numpy as np

    assert type(book.plain(np.float64(0.5))) is float
    assert type(book.plain(np.int64(3))) is int
    assert book.plain("text") == "text"


def test_citation_is_rendered_from_citation_cff():
    cff = book.read_citation(REPO_ROOT)
    text = book.citation_markdown(cff)
    bibtex = book.citation_bibtex(cff)
    assert cff["preferred-citation"]["title"] in text
    assert f"year      = {{{cff['preferred-citation']['year']}}}" in bibtex
    assert bibtex.count("@") == 2


def test_toc_lists_every_chapter_page():
    pages = book.chapter_pages(REPO_ROOT)
    assert pages[0] == "book/intro.html"
    for page in pages:
        name = page.removesuffix(".html")
        assert any((REPO_ROOT / (name + suffix)).exists() for suffix in (".md", ".ipynb")), name
    # every analysis notebook is a chapter, unless _config.yml excludes it by name
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    notebooks = {f"notebooks/analysis/{p.stem}.html" for p in (REPO_ROOT / "notebooks/analysis").glob("*.ipynb")
                 if f"notebooks/analysis/{p.name}" not in config["exclude_patterns"]}
    assert notebooks and notebooks <= set(pages)


def test_toc_glob_lists_the_pages_on_disk_by_name(tmp_path: Path) -> None:
    (tmp_path / "_config.yml").write_text("title: glob check\n")
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: intro
        parts:
          - caption: Studies
            chapters:
              - file: book/other
              - glob: book/reruns/*
          - caption: After
            chapters:
              - file: outro
        """))
    reruns = tmp_path / "book" / "reruns"
    (reruns / "deeper").mkdir(parents=True)
    for name in ("zeta.ipynb", "beta.ipynb", "alpha.md", ".hidden.ipynb", "notes.txt", "deeper/x.ipynb"):
        (reruns / name).write_text("{}")
    assert book.chapter_pages(tmp_path) == [
        "intro.html", "book/other.html", "book/reruns/alpha.html", "book/reruns/beta.html",
        "book/reruns/zeta.html", "outro.html",
    ]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("book")
    return book.build_book(REPO_ROOT, output=output, strict=True)


def _soup(path: Path):
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


#: Figures each chapter must show (matplotlib PNGs).
MIN_FIGURES = {
    "notebooks/analysis/01_why_small.html": 1,
    "notebooks/analysis/02_pepr_score.html": 1,
    "notebooks/analysis/03_model_space.html": 2,
    "notebooks/analysis/04_paper_results.html": 5,
    "notebooks/analysis/05_errata.html": 2,
    "notebooks/analysis/06_robustness.html": 3,
    "notebooks/analysis/08_cpu_rerun.html": 1,
}


@pytest.mark.slow
def test_every_chapter_is_built_with_its_figures(built_book: Path):
    for page in book.chapter_pages(REPO_ROOT):
        path = built_book / page
        assert path.exists(), page
        soup = _soup(path)
        text = soup.get_text()
        assert "{glue" not in text, f"unresolved glue role in {page}"
        images = {img["src"] for img in soup.find_all("img") if "_images/" in img.get("src", "")}
        assert len(images) >= MIN_FIGURES.get(page, 0), page
        for src in images:
            assert (path.parent / src).resolve().exists(), f"{page}: missing {src}"


@pytest.mark.slow
def test_every_study_with_results_has_a_generated_chapter(built_book: Path):
    studies = [p.parent.name for p in sorted(paths.RESULTS_DIR.glob("*/runs.csv"))
               if not results.load(p.parent.name, include_failed=True).empty]
    pages = book.chapter_pages(REPO_ROOT)
    assert studies
    for study in studies:
        page = f"book/reruns/{study}.html"
        assert page in pages and (built_book / page).exists(), study
        assert study in _soup(built_book / page).get_text(), study


@pytest.mark.slow
def test_explorer_is_embedded_without_a_cdn(built_book: Path):
    html = (built_book / "notebooks/analysis/02_pepr_score.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html
    explorer = _soup(built_book / "notebooks/analysis/02_pepr_score.html").find(id="fig-pepr-score-explorer")
    assert explorer is not None and explorer.select_one(".plotly-graph-div")  # a numbered figure
    assert explorer.select_one("figcaption .caption-number")
    assert 'src="https://cdn.plot.ly' not in html
    assert "cdn.plot.ly/plotly" not in html
    assert "mathjax/tex-svg.js" in html  # MathJax from the book's own static files


@pytest.mark.slow
def test_top5_tables_agree_with_pepr_score(built_book: Path):
    soup = _soup(built_book / "notebooks/analysis/04_paper_results.html")
    tables = soup.select('table[id^="tbl-paper-top5-"]')  # pepr.book.table: one numbered table each
    scored = score.add_pepr(results.import_paper())
    expected = analysis.top_k_with_best(scored, "pepr_e", k=5)
    by_id = {f"tbl-paper-top5-{setting}".replace("_", "-"): setting for setting in scored["setting"].unique()}
    assert [by_id[table["id"]] for table in tables] == analysis.setting_order(scored)  # the release's order
    for table in tables:
        setting = by_id[table["id"]]
        assert table.find("caption").find(class_="caption-number") is not None, setting
        header = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
        rows = [[td.get_text(strip=True) for td in tr.find_all(["td", "th"])] for tr in table.find("tbody").find_all("tr")]
        shown = [dict(zip(header, row)) for row in rows]
        truth = expected[expected["setting"] == setting]
        names = [r["model"].removesuffix("\u2021").strip() for r in shown]
        assert [n.removesuffix("\u2020").strip() for n in names] == list(truth["model"]), setting
        # a dagger marks exactly the rows whose energy repeats another setting's
        assert [n.endswith("\u2020") for n in names] == list(truth["flag_stale_resources"]), setting
        # a double dagger exactly the rows no better than the majority class
        above = verdicts.with_verdicts(results.import_paper(), "paper").set_index("run_id")["above_baseline"]
        not_above = (above.loc[truth["run_id"]] == False).fillna(False)  # noqa: E712  (NA: no baseline)
        assert [r["model"].endswith("\u2021") for r in shown] == list(not_above), setting
        assert [r["rank"] for r in shown] == list(truth["row"])
        for row, (_, true) in zip(shown, truth.iterrows()):
            assert float(row["PePR-E"]) == pytest.approx(true["pepr_e"], abs=5e-5)
            assert float(row["P"]) == pytest.approx(true["test_acc"], abs=5e-5)


@pytest.mark.slow
def test_a_missing_glue_key_fails_the_build(tmp_path: Path):
    (tmp_path / "_config.yml").write_text(textwrap.dedent("""\
        title: glue check
        only_build_toc_files: true
        execute:
          execute_notebooks: force
        sphinx:
          config:
            nb_execution_raise_on_error: true
        """))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": "from myst_nb import glue\nglue('present', 1, display=False)"},
            {"cell_type": "markdown", "metadata": {}, "source": "# Page\n\nValue: {glue:text}`absent`"},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "page.ipynb").write_text(json.dumps(notebook))
    with pytest.raises(book.BookBuildError):
        book.build_book(tmp_path, strict=True)


def test_table_markdown_is_a_numbered_table_with_every_row():
    import pandas as pd

    frame = pd.DataFrame({"model": ["a|b", "c"], "acc": [0.91234, None], "n": [3, 4]})
    text = book.table_markdown(frame, "Accuracy per model", "tbl-x", formats={"acc": "{:.3f}"}, link="LINK")
    lines = text.splitlines()
    assert lines[0] == ":::{table} Accuracy per model (LINK)" and lines[1] == ":name: tbl-x"
    assert lines[-1] == ":::" and sum(line.startswith("|") for line in lines) == 2 + len(frame)
    assert "a\\|b" in text and "0.912" in text and "0.91234" not in text and "–" in text
    separator = next(line for line in lines if line.startswith("|:") or line.startswith("|-"))
    assert separator.count(":") == 3  # text left (:---), numbers right (---:)


def test_table_writes_the_whole_frame_for_download(tmp_path):
    import pandas as pd

    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    frame = pd.DataFrame({"x": range(200)})
    link = book.csv_link(frame, "tbl-long", root=tmp_path)
    assert link == "{download}`CSV </outputs/tables/tbl-long.csv>`"
    assert len(pd.read_csv(tmp_path / "outputs" / "tables" / "tbl-long.csv")) == 200


def test_a_long_table_shows_its_first_rows_and_links_all_of_them(tmp_path, monkeypatch):
    import pandas as pd
    from IPython import display as ipython_display

    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    shown: list[str] = []
    monkeypatch.setattr(ipython_display, "display", lambda item: shown.append(item.data))
    frame = pd.DataFrame({"model": [f"m{i}" for i in range(40)], "x": range(40)})
    book.table(frame, "Runs.", "tbl-runs", root=tmp_path, top=15)
    text = shown[-1]
    assert "| m14 " in text and "| m15 " not in text  # the first 15 rows on the page
    assert "the first 15 of 40 rows; all of them: {download}`CSV </outputs/tables/tbl-runs.csv>`" in text
    assert len(pd.read_csv(tmp_path / "outputs" / "tables" / "tbl-runs.csv")) == 40
    book.table(frame.head(10), "Few runs.", "tbl-few", root=tmp_path, top=15)
    assert "| m9 " in shown[-1] and "rows; all of them" not in shown[-1]  # short tables whole
    book.table(frame, "No file.", "tbl-nofile", root=tmp_path, csv=False, top=15)
    assert "| m39 " in shown[-1]  # without a file to link, every row stays


CALLS: list[int] = []


def _tripled(data, factor: int):
    """A cached computation that counts its calls (module level, as joblib needs)."""
    CALLS.append(1)
    return data.assign(y=data["x"] * factor, n=range(len(data)))


def test_the_cache_computes_once_per_input_and_reads_back_the_same(tmp_path):
    import pandas as pd

    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    data = pd.DataFrame({"x": [0.1, 1 / 3, 2e-17], "label": ["a", "b", "c"]})
    CALLS.clear()
    cached = cache.memory(tmp_path).cache(_tripled)
    first, again = cached(data, 3), cached(data.copy(), 3)
    assert len(CALLS) == 1  # equal data, not the same object, is a hit
    pd.testing.assert_frame_equal(first, again, check_exact=True)  # floats survive exactly
    assert (tmp_path / cache.CACHE_DIR).is_dir()
    cached(data.assign(x=data["x"] + 1), 3)
    cached(data, 4)
    cached(data.rename(columns={"label": "name"}), 3)
    assert len(CALLS) == 4  # other values, another parameter or other names: computed afresh


def test_the_paper_comparisons_are_served_from_the_cache(tmp_path):
    import pandas as pd

    from pepr.scoring import analysis

    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    settings = sorted({s for a, b in analysis.PAPER_COMPARISONS.values() for s in [*a, *b]})
    scored = pd.DataFrame([{"model": f"m{i}", "setting": s, "test_acc": 0.5 + 0.01 * i + 0.1 * (k % 2)}
                           for i in range(6) for k, s in enumerate(settings)])
    def results_kept() -> int:  # joblib keeps one folder per set of arguments
        return sum(1 for p in (tmp_path / cache.CACHE_DIR).rglob("output.pkl"))

    first = analysis.paper_comparisons_cached(scored, n_resamples=99, root=tmp_path)
    again = analysis.paper_comparisons_cached(scored.copy(), n_resamples=99, root=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, analysis.paper_comparisons(scored, n_resamples=99))
    assert results_kept() == 1
    analysis.paper_comparisons_cached(scored, n_resamples=199, root=tmp_path)
    assert results_kept() == 2


def test_table_cells_may_hold_lists():
    assert book.cell_text(["a", "b"]) == "a, b"
    assert book.cell_text(float("nan")) == "–" and book.cell_text(None) == "–"


@pytest.mark.slow  # starts one kernel
def test_the_cpu_chapter_refuses_another_study_and_points_at_pepr_report(tmp_path):
    import papermill

    chapter = Path(__file__).resolve().parents[2] / "notebooks" / "analysis" / "08_cpu_rerun.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="pepr report digits"):
        papermill.execute_notebook(str(chapter), str(tmp_path / "out.ipynb"), parameters={"STUDY": "digits"},
                                   kernel_name="python3", progress_bar=False, cwd=str(chapter.parent))


def test_a_table_without_a_name_is_left_unnumbered():
    import pandas as pd

    frame = pd.DataFrame({"a": [1]})
    assert ":name:" not in book.table_markdown(frame, "Outside the chapters.", None)
    assert ":name: tbl-x\n" in book.table_markdown(frame, "In a chapter.", "tbl-x")


def test_long_names_break_only_between_their_parts_and_keep_their_marks():
    assert book.break_points("mobilenetv3_small_050") == "mobilenetv3_<wbr>small_<wbr>050"
    assert book.break_points("ese_vovnet19b_dw †") == "ese_<wbr>vovnet19b_<wbr>dw\u00a0†"
    assert book.break_points("resnet18d †") == "resnet18d\u00a0†"  # short: no break, mark kept on its line
    for text in ("a long text with_under", "0.12345678901234", "{numref}`tbl-x_y_long_name`"):
        assert book.break_points(text) == text
    assert "mobilenetv3_<wbr>small_<wbr>050" in book.table_markdown(
        __import__("pandas").DataFrame({"model": ["mobilenetv3_small_050"]}), "Names.", "tbl-names")


def test_a_cell_that_only_computes_shows_no_empty_code_toggle():
    """A reader meets "Show code cell source" only above something the cell shows; a cell that
    only computes and glues numbers is tagged remove-input (its code is in the notebook)."""
    import json
    import re

    shows = re.compile(r"\b(display|show|table|print|plt\.|HTML|Markdown)\s*\(")
    cells = [("".join(c["source"]), c["metadata"].get("tags", []), str(path))
             for path in [*(REPO_ROOT / "notebooks" / "analysis").glob("*.ipynb"), REPO_ROOT / "notebooks" / "report.ipynb"]
             for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    for path in (REPO_ROOT / "book").glob("*.md"):
        cells += [(body, ["hide-input"], str(path)) for body in
                  re.findall(r"```\{code-cell\}[^\n]*\n:tags: \[hide-input\]\n(.*?)```", path.read_text(), re.S)]
    glued = re.compile(r"glue\(.*display=False\)")  # shown elsewhere, by a {glue:figure}
    empty = [(where, source[:60]) for source, tags, where in cells
             if "hide-input" in tags and not shows.search(glued.sub("", source))]
    assert not empty
