"""Build the Jupyter Book, and the small helpers its notebooks share.

``pepr book`` (and ``make book``) calls :func:`build_book`, which writes the generated study
chapters (:func:`pepr.reporting.render.prepare_book_chapters`) and runs :func:`build_command`:
``jupyter-book build <root> --all -W -n --keep-going``. A plain ``jupyter-book build`` exits 0
even when a notebook cell raises, whereas ``-W`` turns every warning (a failed cell, a missing
glue key, a broken reference) into a non-zero exit. Notebooks execute at build time (``_config.yml``), reading
the official release through ``PEPR_DATA_DIR``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pepr.core.errors import MissingDataError, PeprError

if TYPE_CHECKING:
    pass
from pepr.core.cache import repo_root

#: File types Jupyter Book reads as pages (what a ``glob:`` entry of ``_toc.yml`` can match).
PAGE_SUFFIXES = (".md", ".ipynb")


def chapter_pages(root: Path | str | None = None) -> list[str]:
    """The built HTML page of every chapter, in ``_toc.yml`` order (the root page first).

    A ``glob:`` entry (the generated study chapters, ``book/reruns/*``) expands as
    sphinx-external-toc expands it: to the pages on disk that match, sorted by name, less the
    root page and pages an earlier glob took.
    """
    import yaml

    root = repo_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files, globbed = [toc["root"]], {toc["root"]}
    for entry in (chapter for part in toc["parts"] for chapter in part["chapters"]):
        if "file" in entry:
            files.append(entry["file"])
        elif "glob" in entry:
            matched = [name for name in glob_pages(root, entry["glob"]) if name not in globbed]
            files.extend(matched)
            globbed.update(matched)
    return [f"{name}.html" for name in files]


def glob_pages(root: Path, pattern: str) -> list[str]:
    """The pages (without suffix, relative to ``root``) that a ``_toc.yml`` glob matches;
    ``*`` stays within one folder and hidden files are skipped, as in Sphinx."""
    found = {path.relative_to(root).with_suffix("").as_posix()
             for suffix in PAGE_SUFFIXES for path in root.glob(pattern + suffix)
             if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)}
    return sorted(found)


class BookBuildError(PeprError, RuntimeError):
    """The book did not build cleanly (a cell raised, a glue key was missing, a warning)."""


def build_command(root: Path, output: Path | None = None, strict: bool = True) -> list[str]:
    """The ``jupyter-book build`` command line (``-W -n --keep-going`` when ``strict``).

    ``--all`` re-reads every page: Sphinx otherwise skips unchanged sources, and so would keep a
    notebook's old outputs after a change in the ``pepr`` package or the data.
    """
    executable = Path(sys.executable).with_name("jupyter-book")
    command = [str(executable) if executable.exists() else "jupyter-book", "build", str(root), "--all"]
    if output is not None:
        command += ["--path-output", str(output)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    return command


def build_book(root: Path | str = ".", output: Path | str | None = None, strict: bool = True,
               clean: bool = False) -> Path:
    """Build the book under ``root`` into ``<output or root>/_build/html``; return that folder.

    First :func:`pepr.reporting.render.prepare_book_chapters` writes one chapter per study with results
    (``book/reruns/<study>.ipynb``, which ``_toc.yml`` globs). Raises :class:`BookBuildError`
    when the build exits non-zero (with ``strict``: any warning).
    """
    from pepr.reporting.render import prepare_book_chapters

    root = Path(root).resolve()
    if not (root / "_config.yml").exists():
        raise MissingDataError(f"{root} has no _config.yml: not the book's root")
    chapters = prepare_book_chapters(root)
    if chapters:
        print(f"study chapters: {', '.join(path.stem for path in chapters)}", file=sys.stderr)
    base = Path(output).resolve() if output is not None else root
    if clean and (base / "_build").exists():
        shutil.rmtree(base / "_build")
    started = time.perf_counter()
    completed = subprocess.run(build_command(root, None if output is None else base, strict), cwd=root)
    seconds = time.perf_counter() - started
    html = base / "_build" / "html"
    if completed.returncode != 0:
        raise BookBuildError(f"jupyter-book build failed (exit {completed.returncode}) after {seconds:.0f} s; "
                             f"see the messages above and {base / '_build' / 'html' / 'reports'}")
    print(f"book built in {seconds:.1f} s: {html / 'index.html'}", file=sys.stderr)
    return html


def glue_values(**values: object) -> None:
    """Glue each keyword as a plain Python value (numpy scalars converted) without displaying it.

    The book's prose cites these with ``{glue:text}`key:format```; a numpy float would be glued as
    ``np.float64(...)``, which the format spec cannot parse.
    """
    from myst_nb import glue

    for key, value in values.items():
        glue(key, plain(value), display=False)


def plain(value: object) -> object:
    """A numpy scalar as the Python scalar it holds; anything else unchanged."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def show(fig, dpi: int = 110) -> None:
    """Display a matplotlib Figure once, as a PNG, and close it, whatever the kernel's backend.

    Under ``MPLBACKEND=Agg`` (as in CI) IPython has no figure formatter and would print only the
    Figure's repr; under the inline backend an open figure would be shown a second time at the
    end of the cell. Rendering to PNG ourselves and closing avoids both. A Figure made without
    pyplot (:mod:`pepr.runplots`) is drawn without importing it.
    """
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    if "matplotlib.pyplot" in sys.modules:  # only pyplot can hold the figure open
        sys.modules["matplotlib.pyplot"].close(fig)
    display(Image(data=buffer.getvalue(), format="png"))


def read_citation(root: Path | str | None = None) -> dict:
    """The repository's ``CITATION.cff`` as a dict."""
    import yaml

    return yaml.safe_load((repo_root(root) / "CITATION.cff").read_text())


def citation_markdown(cff: Mapping) -> str:
    """The preferred citation (the paper) as one Markdown paragraph: authors, title, venue, pages."""
    paper = cff["preferred-citation"]
    names = [f"{a['given-names']} {a['family-names']}" for a in paper["authors"]]
    authors = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    identifiers = [str(i["value"]) for i in paper.get("identifiers", [])]
    arxiv = next((i.split(":", 1)[1] for i in identifiers if i.lower().startswith("arxiv:")), None)
    link = f" ([arXiv:{arxiv}](https://arxiv.org/abs/{arxiv}))" if arxiv else ""
    return (f"{authors}. *{paper['title']}*. {paper['collection-title']}, {paper['series']} "
            f"{paper['volume']}:{paper['start']}–{paper['end']}, {paper['year']}{link}.")


def citation_bibtex(cff: Mapping, year: int | None = None, url: str | None = None) -> str:
    """BibTeX entries for the paper (preferred citation) and for this software (with the
    ``year`` and ``url`` of :func:`software_citation_markdown` where known)."""
    paper = cff["preferred-citation"]
    authors = " and ".join(f"{a['family-names']}, {a['given-names']}" for a in paper["authors"])
    identifiers = [str(i["value"]) for i in paper.get("identifiers", [])]
    first = paper["authors"][0]["family-names"].lower()
    software_authors = " and ".join(a.get("name") or f"{a['family-names']}, {a['given-names']}" for a in cff["authors"])
    return "\n".join([
        f"@inproceedings{{{first}{paper['year']}pepr,",
        f"  title     = {{{paper['title']}}},",
        f"  author    = {{{authors}}},",
        f"  booktitle = {{{paper['collection-title']}}},",
        f"  series    = {{{paper['series']}}},",
        f"  volume    = {{{paper['volume']}}},",
        f"  pages     = {{{paper['start']}--{paper['end']}}},",
        f"  year      = {{{paper['year']}}},",
        f"  publisher = {{{paper['publisher']['name']}}},",
        f"  note      = {{{'; '.join(identifiers)}}}",
        "}",
        "",
        "@software{pepr_compendium,",
        f"  title   = {{{cff['title']}}},",
        f"  author  = {{{software_authors}}},",
        f"  version = {{{cff['version']}}},",
        *([f"  year    = {{{year}}},"] if year else []),
        *([f"  url     = {{{url}}},"] if url else []),
        f"  license = {{{cff['license']}}}",
        "}",
    ])


def software_citation_markdown(cff: Mapping, year: int, url: str | None) -> str:
    """The compendium's own citation as one Markdown paragraph: authors, title, version, year
    and its repository's address (``url``, the book's one repository setting; a book built
    without one says so rather than show an invented address)."""
    authors = ", ".join(a.get("name") or f"{a['given-names']} {a['family-names']}" for a in cff["authors"])
    where = f". <{url}>" if url else " (this copy of the book was built without a repository address)."
    return f"{authors}. *{cff['title']}*, version {cff['version']}, {year}{where}"


#: Where :func:`table` writes each table's CSV for the reader to download (git-ignored, and
#: outside the book's sources, so Sphinx only copies it).
TABLES_DIR = "outputs/tables"


def table(frame, caption: str, name: str | None, formats: Mapping[str, str] | None = None,
          csv: bool = True, root: Path | str | None = None, top: int | None = None) -> None:
    """Display ``frame`` as a numbered, captioned table of the book.

    The table is emitted as a MyST ``{table}`` directive around a Markdown pipe table (the book
    parses Markdown outputs as MyST, ``nb_render_markdown_format: myst``), so Sphinx numbers it
    and ``{numref}`name``` links to it. ``formats`` maps a column to a format spec
    (``"{:.3f}"``); numbers are right-aligned, text left. With ``csv`` the whole frame
    (unformatted) is written to ``<book root>/outputs/tables/<name>.csv`` and linked from the
    caption; ``top`` then shows only a long table's first ``top`` rows, and the caption says so
    beside the link to all of them (without ``csv`` every row is shown). ``name`` None leaves
    the table unnumbered (a page outside the numbered chapters, where "Table 1" would read as
    chapter 1's), and then it cannot be linked to or written as a CSV.
    """
    from IPython.display import Markdown, display

    link = csv_link(frame, name, root) if csv and name else None
    shown = frame
    if link and top is not None and len(frame) > top:
        shown = frame.head(top)
        link = f"the first {top} of {len(frame):,} rows; all of them: {link}"
    display(Markdown(table_markdown(shown, caption, name, formats, link)))


def csv_link(frame, name: str, root: Path | str | None = None) -> str:
    """Write ``frame`` to the book's tables folder; return the caption's download link for it."""
    folder = repo_root(root) / TABLES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", index=False)
    return f"{{download}}`CSV </{TABLES_DIR}/{name}.csv>`"


def table_markdown(frame, caption: str, name: str | None, formats: Mapping[str, str] | None = None,
                   link: str | None = None) -> str:
    """The MyST ``{table}`` directive for ``frame`` (see :func:`table`)."""
    formats = dict(formats or {})
    cells = frame.copy()
    numeric = [column for column in frame.columns if frame[column].dtype.kind in "iuf"]
    for column in cells.columns:
        spec = formats.get(column)
        cells[column] = [cell_text(value, spec) for value in frame[column]]
    align = ["right" if column in numeric else "left" for column in frame.columns]
    header = [str(column).replace("|", "\\|") for column in frame.columns]
    body = cells.to_markdown(index=False, headers=header, colalign=align, disable_numparse=True)
    title = f"{caption} ({link})" if link else caption
    label = f":name: {name}\n" if name else ""  # no name: Sphinx gives the table no number
    return f":::{{table}} {title}\n{label}:class: pepr-table\n\n{body}\n:::\n"


def cell_text(value: object, spec: str | None = None) -> str:
    """One table cell as Markdown text: ``spec`` applied, missing values as an en dash, pipes escaped."""
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return "–"
    if not pd.api.types.is_scalar(value):  # a list or tuple in a cell: its items, comma-separated
        value = ", ".join(str(plain(item)) for item in value)
    text = spec.format(value) if spec else str(plain(value))
    return break_points(text.replace("|", "\\|").replace("\n", " "))


#: A long name in a table cell (a model, a setting) may break after these characters only.
NAME_BREAKS = re.compile(r"(?<=[_.])(?=[A-Za-z0-9])")


def break_points(text: str, longer_than: int = 12) -> str:
    """``text`` with a ``<wbr>`` after each ``_`` or ``.`` of a long name, so that on a phone
    ``mobilenetv3_small_050`` breaks between its parts, never mid-word (a copied name carries
    no invisible character), and a mark after it (``resnet18d †``) joined to it by a no-break
    space. Anything but a bare name (words, numbers, links, roles) is left as it is."""
    name, marks = re.fullmatch(r"(.*?)((?: [†‡*]+)*)", text).groups()
    marks = marks.replace(" ", "\u00a0")  # a mark (†, ‡) stays on its name's line
    if len(name) <= longer_than or not re.fullmatch(r"[A-Za-z][\w.\-]*", name):
        return name + marks
    return NAME_BREAKS.sub("<wbr>", name) + marks
