"""Tests for the book: the build command, a full build of every chapter, and the build's failure
on a missing glue key. The builds are slow (they execute every notebook)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from pepr import analysis, book, paths, results, score

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    assert 'src="https://cdn.plot.ly' not in html
    assert "cdn.plot.ly/plotly" not in html
    assert "mathjax/tex-svg.js" in html  # MathJax from the book's own static files


@pytest.mark.slow
def test_top5_tables_agree_with_pepr_score(built_book: Path):
    soup = _soup(built_book / "notebooks/analysis/04_paper_results.html")
    tables = soup.select("table.pepr-top5")
    scored = score.add_pepr(results.import_paper())
    expected = analysis.top_k_with_best(scored, "pepr_e", k=5)
    assert len(tables) == scored["setting"].nunique()
    for table in tables:
        setting = table["data-setting"]
        header = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
        rows = [[td.get_text(strip=True) for td in tr.find_all(["td", "th"])] for tr in table.find("tbody").find_all("tr")]
        shown = [dict(zip(header, row)) for row in rows]
        truth = expected[expected["setting"] == setting]
        assert [r["model"] for r in shown] == list(truth["model"]), setting
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
