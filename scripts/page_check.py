"""Check built book pages as a reader's browser shows them: nothing cut off, every image a
numbered figure with a caption and real alt text, no script error in the console.

Usage (after ``make book``; needs ``pip install playwright`` and a Chromium, ``apt-get install -y
chromium`` on Debian; no browser download)::

    python scripts/page_check.py                          # every chapter, 1400 px, light mode
    python scripts/page_check.py --width 390 --dark       # a phone, in dark mode
    python scripts/page_check.py --pages book/intro.html --json findings.json

Prints one line per finding and a count per page; exits 1 when any page has a finding. A finding
is: a console error or uncaught exception; a table, code block, figure or image wider than the box
it sits in (scrolled sideways or cut off); an image outside a numbered figure, without a caption,
or whose alt text is a file name.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scripts, however it is run

from screenshots import find_chromium  # noqa: E402  (after the path is set)

#: Run in the page: every element a reader would find cut off or scrolled sideways, and every
#: image that is not a numbered, captioned figure with descriptive alt text.
FINDINGS_JS = r"""
() => {
  const found = [];
  const label = e => (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string'
      ? '.' + e.className.trim().split(/\s+/).slice(0, 2).join('.') : '');
  const content = document.querySelector('main') || document.body;
  const column = content.getBoundingClientRect();
  const scroller = e => { for (let a = e.parentElement; a && a !== content; a = a.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return a; return null; };
  for (const e of content.querySelectorAll('table, pre, img, figure, .pst-scrollable-table-container, .cell_output, .plotly-graph-div')) {
    const box = e.getBoundingClientRect();
    if (box.width === 0) continue;
    if (e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible')
      found.push(`scrolls sideways: ${e.tagName.toLowerCase()}${label(e)} ${e.scrollWidth}px in ${e.clientWidth}px`);
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


def check_pages(html: Path, pages: list[str], width: int, dark: bool) -> dict[str, list[str]]:
    """Open each page at ``width`` px (dark colour scheme when ``dark``); return its findings."""
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
            results[page_name] = messages + page.evaluate(FINDINGS_JS)
            page.close()
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    from pepr.reporting.book import chapter_pages

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", default=str(REPO / "_build" / "html"), help="the built book's HTML folder")
    parser.add_argument("--pages", nargs="*", default=None, help="pages relative to --html (default: every chapter)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--dark", action="store_true", help="prefer the dark colour scheme")
    parser.add_argument("--json", default=None, help="also write the findings to this JSON file")
    args = parser.parse_args(argv)
    html = Path(args.html)
    if not (html / "index.html").exists():
        raise SystemExit(f"page_check: {html} has no index.html; build the book first (make book)")
    results = check_pages(html, args.pages or chapter_pages(REPO), args.width, args.dark)
    for page_name, findings in results.items():
        print(f"{page_name}: {len(findings)} finding(s)")
        for finding in findings:
            print(f"  {finding}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
