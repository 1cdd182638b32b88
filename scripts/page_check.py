"""Check built book pages as a reader's browser shows them: nothing cut off, every image a
numbered figure with a caption and real alt text, no script error in the console, prose without
placeholders or slips of number, and no WCAG 2.1 A/AA violation that axe-core finds.

Usage (after ``make book``; needs ``pip install playwright`` and a Chromium, ``apt-get install -y
chromium`` on Debian; no browser download; for the accessibility check, ``npm install --prefix
scripts``, which puts axe-core under ``scripts/node_modules``)::

    python scripts/page_check.py                          # every chapter, 1400 px, light mode
    python scripts/page_check.py --width 390 --dark       # a phone, in dark mode
    python scripts/page_check.py --pages book/intro.html --json findings.json
    python scripts/page_check.py --no-axe                 # layout and prose only

Prints one line per finding and a count per page; exits 1 when any page has a finding. A finding
is: a console error or uncaught exception; a table, code block, figure or image wider than the box
it sits in (scrolled sideways or cut off), or a table caption cut off; an image outside a numbered figure, without a caption,
or whose alt text is a file name; a line of the page's prose or tables that :data:`PROSE_CHECKS`
flags (a "(s)" plural, "1 runs", a nan shown as a value, a placeholder address, a zero duration,
wording for a study still running, a p-value of 0.000, a label written twice); an axe-core
violation of WCAG 2.0/2.1 level A or AA. A violation whose every element is in the theme's chrome
(navigation bar, sidebars, search and colour-mode buttons) counts too, and says so: the book
patches the theme's markup in ``_static/pepr-a11y.js``. On a phone (below :data:`PHONE_WIDTH`) a
wide table that scrolls inside its own container, its caption within the column, is a note: it
is printed, and does not fail the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scripts, however it is run

from pepr.core.text import plural  # noqa: E402  (after the path is set)
from screenshots import find_chromium  # noqa: E402

#: axe-core, installed by ``npm install --prefix scripts`` (``scripts/package.json``).
AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"

#: The axe-core rule tags the book is held to: WCAG 2.0 and 2.1, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

#: The theme's chrome around the book's own content: a violation only here is the theme's, which
#: ``_static/pepr-a11y.js`` patches (it still counts: the page is what the reader gets).
THEME_CHROME = (".bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, "
                ".prev-next-area, .navbar, .search-button, .search-button-field, .theme-switch-button, "
                ".bd-search, #pst-search-dialog, .search-button__wrapper")

#: Plural nouns that "1" or "one" must not count (``1 runs``); add a noun here to check it too.
PLURAL_NOUNS = (
    "rows", "runs", "settings", "models", "threads", "seeds", "images", "figures", "tables", "columns",
    "files", "datasets", "studies", "chapters", "pages", "points", "cores", "GPUs", "CPUs", "epochs",
    "configurations", "findings", "values", "cells", "measurements", "repeats", "repetitions", "classes",
    "samples", "labels", "errors", "warnings", "minutes", "seconds", "hours", "days", "entries", "items",
    "steps", "trials", "sweeps", "jobs", "notebooks", "tasks", "parameters", "layers", "batches",
    "architectures", "families", "sizes", "releases", "results", "checks", "tests", "commits",
    "differences", "resources", "units", "scores", "verdicts", "baselines", "nodes", "devices", "machines",
)

#: Words between "1" and a plural noun that do not describe the noun ("1 of 5 runs", "1 per runs").
_NOT_ADJECTIVE = r"(?:of|in|out|per|and|or|to|by|from|at|for|vs)\b"

#: A space inside a phrase (not a tab or line break, which separate table cells and lines).
_SP = r"[ \u00a0\u2009\u202f]+"
_SP0 = r"[ \u00a0\u2009\u202f]*"  # the same, or none


@dataclass(frozen=True)
class ProseCheck:
    """One thing a reader should not meet in the text: a name, what finds it, and why it is wrong.

    ``where`` is ``text`` (the page's visible prose and tables, line by line) or ``cell`` (one
    table cell's whole text, in a column whose header matches ``header`` when one is given).
    """

    name: str
    pattern: re.Pattern[str]
    message: str
    where: Literal["text", "cell"] = "text"
    header: re.Pattern[str] | None = None


#: Every prose check, in the order findings are printed.
PROSE_CHECKS: tuple[ProseCheck, ...] = (
    ProseCheck("hedged-plural", re.compile(r"\b[A-Za-z][\w-]*\((?:s|es)\)"),
               'a "(s)" plural: write the count with the noun that agrees (pepr.core.text.plural)'),
    ProseCheck("number-agreement",
               re.compile(rf"(?<![\w.,\u2212-])(?:1{_SP}(?:(?!{_NOT_ADJECTIVE})[a-z][\w-]*{_SP})?|[Oo]ne{_SP})"
                          rf"(?:{'|'.join(PLURAL_NOUNS)})\b"),
               '"1" or "one" with a plural noun (write 1 run, 1 torch thread)'),
    ProseCheck("not-a-number", re.compile(r"(?<![\w.-])[-+\u2212]?(?:nan|NaN|NAN|inf|Inf|INF)(?![\w-])"),
               "nan or inf shown as a value"),
    ProseCheck("none-value", re.compile(r"^None$"), 'a table cell reading "None"', where="cell"),
    ProseCheck("placeholder",
               re.compile(r"(?<!\w)REPOSITORY[-_]URL\b|(?i:\bexample\.(?:com|org)\b|<your\b)|\bTODO\b|\bXXX\b"
                          r"|\{\{[^}]*\}\}"),
               "placeholder text or address"),
    ProseCheck("zero-duration",
               re.compile(rf"(?<![\w.,\u2212-])0(?:\.0+)?{_SP0}(?:s|sec|seconds?|min|minutes?|h|hours?)(?![\w/])"),
               "a measured duration of zero (rounded away, or never measured)"),
    ProseCheck("zero-duration", re.compile(r"^0(?:\.0+)?$"), "a measured duration of zero", where="cell",
               header=re.compile(r".*(?:\((?:s|sec|min|h)\)|\btime\b|\bduration\b)", re.IGNORECASE)),
    ProseCheck("unfinished",
               re.compile(r"\bso far\b|had finished when this page was built|\bthat had finished\b"
                          r"|each build (?:of the book )?shows more|\bruns in the background\b"
                          r"|\bstill running\b|\bnot yet finished\b|\bnot finished yet\b", re.IGNORECASE),
               "wording for a study still running; the study is finished"),
    ProseCheck("p-zero",
               re.compile(rf"(?<![\w.])p(?:[- ]?value)?(?:{_SP0}\([^)]*\))?{_SP0}[=:≈]?{_SP0}0\.0+(?![\d])"),
               "a p-value printed as 0.000 (write p < 0.001)"),
    ProseCheck("p-zero", re.compile(r"^0\.0+$"), "a p-value printed as 0.000 (write < 0.001)", where="cell",
               header=re.compile(r"^p(?:[- _]?(?:value|val|adj(?:usted)?))?(?:\s*\(.*\))?$", re.IGNORECASE)),
    ProseCheck("doubled-label", re.compile(rf"(?<![\w.-])([\w.-]+):{_SP}\1:(?![\w])"),
               "the same label twice in a row"),
)

#: Below this width a page is read on a phone: there a wide table may scroll inside its own
#: container (the theme's), as long as its caption stays within the text column, the page itself
#: does not scroll and no name breaks mid-word (the book's CSS breaks names only between their
#: parts); such a table is printed as a note, not a finding.
PHONE_WIDTH = 600
NOTE = "note: "


#: Run in the page: every element a reader would find cut off or scrolled sideways (with its table's
#: number), and every image that is not a numbered, captioned figure with descriptive alt text.
FINDINGS_JS = r"""
([PHONE_WIDTH, NOTE]) => {
  const found = [];
  const numbered = e => { const t = e.matches('table') ? e : e.querySelector('table') || e.closest('table');
      const n = t && t.querySelector('caption .caption-number'); return n ? ` (${n.innerText.trim()})` : ''; };
  const label = e => (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string'
      ? '.' + e.className.trim().split(/\s+/).slice(0, 2).join('.') : '') + numbered(e);
  const content = document.querySelector('main') || document.body;
  const column = content.getBoundingClientRect();
  const scroller = e => { for (let a = e.parentElement; a && a !== content; a = a.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return a; return null; };
  for (const e of content.querySelectorAll('table, pre, img, figure, .pst-scrollable-table-container, .cell_output, .plotly-graph-div')) {
    const box = e.getBoundingClientRect();
    if (box.width === 0) continue;
    const caption = e.querySelector(':scope > table > caption');
    const phone = window.innerWidth < PHONE_WIDTH;
    if (caption && caption.getBoundingClientRect().right > column.right + 2)
      found.push(`caption cut off: ${label(e)} ends at ${Math.round(caption.getBoundingClientRect().right)}px, column at ${Math.round(column.right)}px`);
    if (e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible')
      found.push(`${phone && caption && e.matches('.pst-scrollable-table-container') ? NOTE : ''}scrolls sideways: ${e.tagName.toLowerCase()}${label(e)} ${e.scrollWidth}px in ${e.clientWidth}px`);
    else if (box.right > column.right + 2 && !scroller(e))
      found.push(`cut off: ${e.tagName.toLowerCase()}${label(e)} ends at ${Math.round(box.right)}px, column at ${Math.round(column.right)}px`);
    if (e.scrollHeight > e.clientHeight + 2 && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowY))
      found.push(`hidden rows: ${e.tagName.toLowerCase()}${label(e)} ${e.scrollHeight}px in ${e.clientHeight}px`);
  }
  for (const img of content.querySelectorAll('img')) {
    if (img.closest('.navbar, header, .bd-sidebar, .bd-header-article, .dropdown-menu, .header-article-items')) continue;
    const figure = img.closest('figure');
    const name = (img.getAttribute('src') || '').split('/').pop();
    if (!figure) found.push(`image without figure: ${name}`);
    else if (!figure.querySelector('figcaption .caption-number')) found.push(`figure without number: ${name}`);
    const alt = (img.getAttribute('alt') || '').trim();
    if (!alt || /\.(png|svg|jpe?g)$/i.test(alt) || alt.includes('/')) found.push(`alt text is not a description: ${name} (${alt || 'none'})`);
  }
  for (const plot of content.querySelectorAll('.plotly-graph-div')) {
    const figure = plot.closest('figure');
    if (!figure || !figure.querySelector('figcaption .caption-number')) found.push('interactive figure without number and caption');
  }
  return found;
}
"""

#: Run in the page: the text a reader reads in the main column (code cells' source and code blocks
#: left out, their outputs kept; inline code read as ``‹code›``; the theme's page header, contents
#: and next/previous links and the "Show code cell source" toggles left out), and each table as
#: its header row and body rows of cell texts.
PROSE_JS = r"""
() => {
  const content = document.querySelector('main') || document.body;
  const chrome = [...content.querySelectorAll('.bd-header-article, .bd-sidebar-secondary, .prev-next-area, div.cell > details.hide > summary')];
  const code = [...content.querySelectorAll('.cell_input, pre, code')]
      .filter(e => !e.closest('.cell_output') && !(e.parentElement && e.parentElement.closest('.cell_input, pre, code')));
  const marks = code.filter(e => e.tagName === 'CODE' && !e.closest('.cell_input')).map(e => {
    const mark = document.createElement('span');
    mark.textContent = '‹code›';
    e.before(mark);
    return mark;
  });
  const skipped = [...chrome, ...code];
  const display = skipped.map(e => [e.style.getPropertyValue('display'), e.style.getPropertyPriority('display')]);
  skipped.forEach(e => e.style.setProperty('display', 'none', 'important'));
  const cells = row => [...row.cells].flatMap(c => Array(c.colSpan || 1).fill(c.innerText.trim()));
  const tables = [...content.querySelectorAll('table')].filter(t => t.offsetParent !== null).map(t => {
    const head = t.tHead && t.tHead.rows.length ? t.tHead.rows[t.tHead.rows.length - 1] : null;
    const body = [...t.tBodies].flatMap(b => [...b.rows]);
    return {caption: t.caption ? t.caption.innerText.trim() : '', header: head ? cells(head) : [], rows: body.map(cells)};
  });
  const text = content.innerText;
  skipped.forEach((e, i) => display[i][0] ? e.style.setProperty('display', ...display[i]) : e.style.removeProperty('display'));
  marks.forEach(mark => mark.remove());
  return {text, tables};
}
"""

#: Run in the page (after axe-core is added): each WCAG A/AA violation, with its elements' selectors
#: and whether each element is in the theme's chrome.
AXE_RUN_JS = r"""
async ([tags, chrome]) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], preload: false});
  const inChrome = selector => { try { const e = document.querySelector(selector); return !!(e && e.closest(chrome)); }
                                 catch (error) { return false; } };
  return result.violations.map(v => ({id: v.id, impact: v.impact || 'unknown', nodes: v.nodes.map(n => {
    const target = n.target.flat();
    return {target: target.join(' '), chrome: inChrome(target[target.length - 1])};
  })}));
}
"""


def snippet(text: str, start: int, end: int, context: int = 30) -> str:
    """The match ``text[start:end]`` with about ``context`` characters either side, on one line
    (a tab between table cells shown as `` | ``, a line break as `` / ``)."""
    left, right = max(0, start - context), min(len(text), end + context)
    piece = text[left:right].replace("\t", " | ")
    piece = re.sub(r"\s*\n\s*", " / ", piece)
    piece = re.sub(r"[ \u00a0\u2009\u202f]+", " ", piece).strip()
    return ("…" if left > 0 else "") + piece + ("…" if right < len(text) else "")


def prose_findings(text: str, checks: tuple[ProseCheck, ...] = PROSE_CHECKS) -> list[str]:
    """One line per place in ``text`` (a page's visible text) that a ``text`` check flags."""
    found: list[str] = []
    for check in (c for c in checks if c.where == "text"):
        for match in check.pattern.finditer(text):
            found.append(f'prose {check.name}: {check.message}: "{snippet(text, match.start(), match.end())}"')
    return found


def table_findings(tables: list[dict[str, Any]], checks: tuple[ProseCheck, ...] = PROSE_CHECKS) -> list[str]:
    """One line per table column in which a ``cell`` check flags cells: how many, and the first
    row's label. ``tables`` are ``{"caption", "header": [cell text], "rows": [[cell text]]}``."""
    found: list[str] = []
    for number, table in enumerate(tables, start=1):
        header = table.get("header") or []
        name = table.get("caption") or f"table {number} of the page"
        for check in (c for c in checks if c.where == "cell"):
            for column in range(max((len(row) for row in table["rows"]), default=0)):
                title = header[column] if column < len(header) else ""
                if check.header is not None and not check.header.match(title):
                    continue
                rows = [row for row in table["rows"] if column < len(row) and check.pattern.match(row[column])]
                if rows:
                    where = f'column "{title}"' if title else f"column {column + 1}"
                    found.append(f'prose {check.name}: {check.message}: {plural(len(rows), "cell")} in {where} '
                                 f'of "{name[:60]}", first in the row "{rows[0][0][:40]}"')
    return found


def axe_findings(violations: list[dict[str, Any]]) -> list[str]:
    """One line per axe-core violation: rule, impact, how many elements and the first one's
    selector; a violation only in the theme's chrome (:data:`THEME_CHROME`) says so."""
    found: list[str] = []
    for violation in violations:
        nodes = violation["nodes"]
        where = " (theme chrome: patch it in _static/pepr-a11y.js)" if all(n["chrome"] for n in nodes) else ""
        found.append(f"axe {violation['id']} ({violation['impact']}): {plural(len(nodes), 'node')} → "
                     f"{nodes[0]['target']}{where}")
    return found


def check_pages(html: Path, pages: list[str], width: int, dark: bool,
                axe: Path | None = None) -> dict[str, list[str]]:
    """Open each page at ``width`` px (dark colour scheme when ``dark``); return its findings,
    with axe-core's (from the script ``axe``) when one is given."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("page_check: needs playwright (pip install playwright); it drives the system Chromium")
    results: dict[str, list[str]] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": width, "height": 1000},
                                      color_scheme="dark" if dark else "light")
        for page_name in pages:
            page = context.new_page()
            messages: list[str] = []
            page.on("console", lambda m, out=messages: out.append(f"console {m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e, out=messages: out.append(f"script error: {e}"))
            page.goto((html / page_name).resolve().as_uri())
            page.wait_for_timeout(1500)
            findings = page.evaluate(FINDINGS_JS, [PHONE_WIDTH, NOTE])
            prose = page.evaluate(PROSE_JS)
            findings += prose_findings(prose["text"]) + table_findings(prose["tables"])
            if axe is not None:
                page.add_script_tag(path=str(axe))
                findings += axe_findings(page.evaluate(AXE_RUN_JS, [AXE_TAGS, THEME_CHROME]))
            results[page_name] = messages + findings
            page.close()
        browser.close()
    return results


def axe_script(wanted: bool | None) -> Path | None:
    """axe-core's script when the check is ``wanted`` (None: when it is installed), else None."""
    if wanted is False:
        return None
    if AXE_JS.exists():
        return AXE_JS
    if wanted:
        raise SystemExit(f"page_check: --axe needs axe-core at {AXE_JS}; install it with "
                         f"npm install --prefix {AXE_JS.parents[2]}")
    return None


def main(argv: list[str] | None = None) -> int:
    from pepr.reporting.book import chapter_pages

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default=str(REPO / "_build" / "html"), help="the built book's HTML folder")
    parser.add_argument("--pages", nargs="*", default=None, help="pages relative to --html (default: every chapter)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--dark", action="store_true", help="prefer the dark colour scheme")
    parser.add_argument("--axe", action=argparse.BooleanOptionalAction, default=None,
                        help="check WCAG 2.1 A/AA with axe-core (default: when scripts/node_modules has it)")
    parser.add_argument("--json", default=None, help="also write the findings to this JSON file")
    args = parser.parse_args(argv)
    html = Path(args.html)
    if not (html / "index.html").exists():
        raise SystemExit(f"page_check: {html} has no index.html; build the book first (make book)")
    axe = axe_script(args.axe)
    if axe is None and args.axe is None:
        print(f"page_check: no axe-core at {AXE_JS} (npm install --prefix {AXE_JS.parents[2]}); "
              "accessibility not checked", file=sys.stderr)
    results = check_pages(html, args.pages or chapter_pages(REPO), args.width, args.dark, axe)
    counted = {}
    for page_name, lines in results.items():
        findings, notes = split_notes(lines)
        counted[page_name] = findings
        print(f"{page_name}: {plural(len(findings), 'finding')}"
              + (f" ({plural(len(notes), 'note')})" if notes else ""))
        for line in findings + notes:
            print(f"  {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if any(counted.values()) else 0


def split_notes(lines: list[str]) -> tuple[list[str], list[str]]:
    """A page's lines as (findings, notes): a note (:data:`NOTE`) is printed but does not fail
    the check."""
    return [line for line in lines if not line.startswith(NOTE)], [line for line in lines if line.startswith(NOTE)]


if __name__ == "__main__":
    sys.exit(main())
