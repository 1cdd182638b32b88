"""scripts/page_check.py's prose checks and its axe-core lines, on plain strings: no browser."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "page_check.py"


@pytest.fixture(scope="module")
def page_check():
    spec = importlib.util.spec_from_file_location("page_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("page_check", module)
    spec.loader.exec_module(module)
    return module


def names(page_check, text: str) -> list[str]:
    """The names of the text checks that flag ``text``, one per finding."""
    return [line.split(":")[0].removeprefix("prose ") for line in page_check.prose_findings(text)]


@pytest.mark.parametrize("text, expected", [
    ("ran on 1 thread(s) per run", ["hedged-plural"]),
    ("3 finding(s) in all", ["hedged-plural"]),
    ("the branch(es) it names", ["hedged-plural"]),
    ("training time (s) and memory (GB)", []),
    ("1 rows were dropped", ["number-agreement"]),
    ("with 1 runs and one models", ["number-agreement", "number-agreement"]),
    ("2 logical CPUs, 1 torch threads", ["number-agreement"]),
    ("differ in 1 of the 1 tied settings", ["number-agreement"]),
    ("of 1 runs", ["number-agreement"]),
    ("1 of 5 runs", []),
    ("1.5 runs on average, 0.1 models, 11 runs, 1,000 runs", []),
    ("1 run, 1 model, one thread per run, 21 seeds", []),
    ("accuracy nan, energy inf, -inf, NaN", ["not-a-number"] * 4),
    ("a financial nanny, infinite, info, Nanjing", []),
    ("see REPOSITORY-URL or https://example.com/x", ["placeholder", "placeholder"]),
    ("clone <your fork>; TODO: XXX; {{ study }}", ["placeholder"] * 4),
    ("set PEPR_REPOSITORY_URL to the repository", []),
    ("trained in 0.0 min; 0 s; 0.00 h; took 0 min", ["zero-duration"] * 4),
    ("trained in 10 s, 1.0 min, 0.5 h; 0 seeds; 20 s", []),
    ("183 runs so far; still running; 5 had finished when this page was built", ["unfinished"] * 3),
    ("so each build shows more; not yet finished", ["unfinished"] * 2),
    ("as far as the study goes, it finished", []),
    ("p = 0.000; p 0.000; p-value 0.000; p (Wilcoxon) = 0.00", ["p-zero"] * 4),
    ("p = 0.001, p < 0.001, top 0.000, p = 0.05", []),
    ("the data: breastmnist: breastmnist: binary-class", ["doubled-label"]),
    ("breastmnist: binary-class; pneumoniamnist: binary-class", []),
])
def test_each_prose_check_flags_what_it_names_and_nothing_else(page_check, text, expected):
    assert names(page_check, text) == expected


def test_a_finding_quotes_about_sixty_characters_around_the_slip_on_one_line(page_check):
    text = "x" * 200 + " trained\ton 1 thread(s)\nper run " + "y" * 200
    [line] = page_check.prose_findings(text)
    quoted = line.split(': "', 1)[1].rstrip('"')
    assert "1 thread(s)" in quoted and " | " in quoted and " / " in quoted
    assert quoted.startswith("…") and quoted.endswith("…") and 50 <= len(quoted) <= 80


def test_cell_checks_read_whole_cells_in_the_columns_they_name(page_check):
    tables = [{"caption": "Table 8.8 Paired", "header": ["arms", "runs", "p (Wilcoxon)", "train (s)"],
               "rows": [["a vs b", "None", "0.000", "0"], ["a vs c", "3", "0.000", "12.5"],
                        ["b vs c", "0.000", "0.012", "0.0"]]}]
    lines = page_check.table_findings(tables)
    assert [line.split(":")[0] for line in lines] == ["prose none-value", "prose zero-duration", "prose p-zero"]
    assert '2 cells in column "p (Wilcoxon)" of "Table 8.8 Paired", first in the row "a vs b"' in lines[2]
    assert '2 cells in column "train (s)"' in lines[1]
    assert page_check.table_findings([{"caption": "", "header": ["p"], "rows": [["0.001"], ["None of them"]]}]) == []


def test_axe_lines_count_nodes_in_words_and_name_the_theme_chrome(page_check):
    violations = [
        {"id": "label-content-name-mismatch", "impact": "serious",
         "nodes": [{"target": ".search-button-field", "chrome": True}]},
        {"id": "color-contrast", "impact": "serious",
         "nodes": [{"target": "#t1 td", "chrome": False}, {"target": ".navbar a", "chrome": True}]},
    ]
    first, second = page_check.axe_findings(violations)
    assert first.startswith("axe label-content-name-mismatch (serious): 1 node → .search-button-field")
    assert "theme chrome" in first
    assert second == "axe color-contrast (serious): 2 nodes → #t1 td"


def test_asking_for_axe_without_axe_core_says_how_to_install_it(page_check, tmp_path, monkeypatch):
    monkeypatch.setattr(page_check, "AXE_JS", tmp_path / "node_modules" / "axe-core" / "axe.min.js")
    assert page_check.axe_script(None) is None and page_check.axe_script(False) is None
    with pytest.raises(SystemExit, match="npm install"):
        page_check.axe_script(True)


def test_notes_are_printed_apart_and_do_not_count_as_findings(page_check):
    lines = ["scrolls sideways: pre 900px in 358px", page_check.NOTE + "scrolls sideways: div (Table 4.3) 465px in 358px"]
    findings, notes = page_check.split_notes(lines)
    assert findings == lines[:1] and notes == lines[1:]
    assert page_check.split_notes([]) == ([], [])
