"""Render a study's report: the template ``notebooks/report.ipynb`` executed by papermill for one
study, then one HTML page; and the book's generated chapters, one per study.

``pepr report STUDY`` calls :func:`render_report`, which writes
``<output_dir>/<study>/report.ipynb`` (the executed notebook) and ``report.html`` (one page, code
hidden, figures embedded; the template's MyST, written for the book, becomes plain Markdown there:
:func:`plain_outputs`). ``pepr book`` calls :func:`prepare_book_chapters`, which writes
``book/reruns/<study>.ipynb`` for every study that has results: the template with the study
injected but not executed (Jupyter Book executes it while it builds), so a new study's results
give the book a new chapter without an edit of ``_toc.yml`` (its ``glob: book/reruns/*`` entry)
or of any code. The template's figure names carry :data:`STUDY_PLACEHOLDER`, which each chapter
fills with its study, so the chapters of several studies can be built side by side.

The template's ``parameters`` cell is the contract: only the names it declares are passed
(:func:`template_parameters`, read with ``papermill.inspect_notebook``); anything else is refused
before a kernel starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat

from pepr.core import paths
from pepr.core.errors import (
    BadParameterError,
    EmptyStudyError,
    MissingDataError,
    NotebookError,
)
from pepr.core.settings import KERNEL_ARGUMENTS

KERNEL = "python3"

#: The book's generated chapters, relative to the book's root; ``_toc.yml`` globs this folder.
CHAPTERS_DIR = Path("book") / "reruns"

#: Notebook metadata key that marks a generated chapter; only notebooks carrying it are removed.
GENERATED_KEY = "pepr_generated"

#: Tags of the template's ``parameters`` cell that say how the book shows it; the injected cell
#: gets the same ones, so the book shows the injected values as it shows the defaults.
DISPLAY_TAGS = frozenset({"remove-cell", "remove-input", "remove-output", "hide-cell", "hide-input",
                          "hide-output"})


@dataclass(frozen=True)
class RenderedReport:
    """The files :func:`render_report` wrote: the executed notebook and its HTML page."""

    notebook: Path
    html: Path


def template_parameters(template: Path | str = paths.REPORT_NOTEBOOK) -> dict[str, dict]:
    """The parameters the template's ``parameters`` cell declares: name -> papermill's
    description (``name``, ``inferred_type_name``, ``default``, ``help``)."""
    import papermill

    template = Path(template)
    if not template.exists():
        raise MissingDataError(f"no report template at {template}")
    return papermill.inspect_notebook(str(template))


def check_parameters(parameters: Mapping[str, object],
                     template: Path | str = paths.REPORT_NOTEBOOK) -> None:
    """Refuse, naming them, the parameters that the template does not declare."""
    declared = template_parameters(template)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise BadParameterError(f"{Path(template).name} has no parameter {', '.join(map(repr, unknown))}; "
                                f"it takes: {', '.join(declared)}")


def check_study(study: str, results_dir: Path | str = paths.RESULTS_DIR) -> int:
    """The number of runs of ``study`` (failed ones included); an unknown study raises
    :class:`~pepr.core.errors.UnknownStudyError`, one without any run :class:`EmptyStudyError`."""
    from pepr.store import results

    runs = results.load(study, results_dir, include_failed=True)
    if runs.empty:
        table = results.study_dir(study, results_dir) / "runs.csv"
        raise EmptyStudyError(f"study {study!r} has no runs yet: {table} holds only its header")
    return len(runs)


def render_report(study: str, results_dir: Path | str | None = None,
                  output_dir: Path | str | None = None, *, template: Path | str | None = None,
                  **parameters: object) -> RenderedReport:
    """Execute the report template for ``study`` and convert it to one HTML page.

    ``results_dir`` defaults to :data:`pepr.core.paths.RESULTS_DIR`, ``output_dir`` to
    :data:`pepr.core.paths.REPORTS_DIR` (the files go to ``<output_dir>/<study>/``), ``template`` to
    :data:`pepr.core.paths.REPORT_NOTEBOOK`. ``parameters`` are further template parameters (``pool``,
    ``rank_by``, ``title``, ``studies_dir``, ...); a name the template does not declare raises
    :class:`~pepr.core.errors.BadParameterError` before anything runs. The kernel runs in the
    repository root. A cell that raises becomes one :class:`~pepr.core.errors.NotebookError` naming
    the cell and the exception; the executed copy, with the traceback, stays for a look.
    """
    template = Path(template) if template is not None else paths.REPORT_NOTEBOOK
    results_dir = Path(results_dir).resolve() if results_dir is not None else paths.RESULTS_DIR
    check_study(study, results_dir)
    values = {"study": study, "results_dir": str(results_dir),
              **{name: _plain(value) for name, value in parameters.items()}}
    check_parameters(values, template)

    folder = Path(output_dir if output_dir is not None else paths.REPORTS_DIR) / study
    folder.mkdir(parents=True, exist_ok=True)
    notebook, html = folder / "report.ipynb", folder / "report.html"
    html.unlink(missing_ok=True)  # a failed run must not leave last time's page looking current
    execute_report(template, notebook, values)
    title = study_heading(study, values.get("title"))
    executed = nbformat.read(str(notebook), as_version=4)
    retitle(executed, title)
    name_for_study(executed, study)
    nbformat.write(executed, str(notebook))
    _write_text(html, notebook_html(notebook, title))
    return RenderedReport(notebook=notebook, html=html)


def study_heading(study: str, title: object = None) -> str:
    """The report's heading: the ``title`` parameter, else "The <study> study"."""
    return str(title) if title else f"The {study} study"


def retitle(node, heading: str) -> None:
    """Replace the template's first heading (``# Study report``) by ``heading``: the book takes
    a chapter's title from it, so each study's chapter is named for its study."""
    for cell in node.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            first, _, rest = cell.source.lstrip().partition("\n")
            cell.source = f"# {heading}\n{rest}"
            return


def execute_report(template: Path, target: Path, parameters: Mapping[str, object]) -> None:
    """Run ``template`` with ``parameters`` into ``target`` (papermill, kernel :data:`KERNEL`,
    cwd the repository root); a cell that raises becomes a :class:`NotebookError`."""
    import papermill

    try:
        papermill.execute_notebook(
            str(template), str(target), parameters=dict(parameters), kernel_name=KERNEL,
            progress_bar=False, cwd=str(paths.REPO_ROOT),
            shutdown_kernel="immediate",  # every cell has run: a graceful stop only waits
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except papermill.PapermillExecutionError as error:
        value = " ".join(str(error.evalue).split())
        value = value if len(value) <= 300 else value[:297] + "..."
        raise NotebookError(
            f"{template.name}: cell {error.cell_index} raised {error.ename}: {value} "
            f"(executed copy: {target})",
            ename=error.ename, evalue=error.evalue, cell_index=error.cell_index, notebook=str(target),
        ) from error


def notebook_html(notebook: Path | str, title: str) -> str:
    """One standalone HTML page of an executed notebook: outputs and prose, no code, no prompts;
    images embedded (inline PNG outputs as data URIs, Markdown images too). The book's MyST
    (numbered tables, captioned figures, admonitions) becomes plain Markdown first
    (:func:`plain_outputs`), since nbconvert shows a directive as its source text."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    node = plain_outputs(nbformat.read(str(notebook), as_version=4))
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": title}})
    return body


#: Placeholder for the study in the names of the template's figures (cell metadata
#: ``mystnb.figure.name``): each study's chapter gets its own names (:func:`name_for_study`).
STUDY_PLACEHOLDER = "{study}"


def name_for_study(node, study: str) -> None:
    """Fill :data:`STUDY_PLACEHOLDER` in the figure names of ``node``'s cells with the study's
    slug (:func:`pepr.reporting.findings.slug`): the book builds the chapters of several studies side by
    side, and a name must be unique across them."""
    from pepr.reporting.findings import slug

    for cell in node.cells:
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if STUDY_PLACEHOLDER in str(figure.get("name", "")):
            figure["name"] = figure["name"].replace(STUDY_PLACEHOLDER, slug(study))


def plain_outputs(node):
    """A copy of the executed notebook ``node`` for nbconvert, which renders Markdown but not
    MyST: every Markdown output through :func:`plain_markdown` (tables numbered in page order),
    and each figure's caption (cell metadata ``mystnb.figure.caption``) as a Markdown output
    after the figure, numbered likewise."""
    import copy

    node = copy.deepcopy(node)
    counts = {"Table": 0, "Figure": 0}
    for cell in node.cells:
        if cell.cell_type != "code":
            continue
        caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption")
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = plain_markdown(data["text/markdown"], counts)
            outputs.append(output)
            if caption and output.get("output_type") in ("display_data", "execute_result"):
                counts["Figure"] += 1
                outputs.append(nbformat.v4.new_output("display_data", data={
                    "text/markdown": f"**Figure {counts['Figure']}.** {plain_roles(caption)}"}))
                caption = None  # one figure per cell, as the book has it
        cell.outputs = outputs
    return node


def plain_markdown(text: str, counts: dict[str, int] | None = None) -> str:
    """MyST Markdown as plain Markdown: a ``{table}`` directive becomes its table under a bold
    "Table N." and its caption (the CSV link dropped: it points into the book); an admonition
    (``{admonition}``, ``{note}``, ...) a blockquote under its bold title. ``counts`` carries the
    table numbers on from one output to the next."""
    import re

    counts = counts if counts is not None else {"Table": 0}
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        opening = re.match(r"^(:{3,}|`{3,})\{([\w:-]+)\}\s*(.*)$", lines[index])
        if not opening:
            out.append(lines[index])
            index += 1
            continue
        fence, kind, argument = opening.groups()
        index += 1
        while index < len(lines) and re.match(r"^:[\w-]+:", lines[index]):
            index += 1  # the directive's options (:name:, :class:)
        body = []
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        while body and not body[0].strip():
            body.pop(0)
        if kind == "table":
            counts["Table"] = counts.get("Table", 0) + 1
            out += [f"**Table {counts['Table']}.** {plain_roles(argument)}", "", *body]
        else:
            title = argument or kind.capitalize()
            out += [f"> **{plain_roles(title)}**", ">", *[f"> {line}".rstrip() for line in body]]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def plain_roles(text: str) -> str:
    """``text`` without the MyST roles nbconvert cannot follow: a download link in brackets is
    dropped, any other role keeps its text (``{numref}`fig-x``` becomes ``fig-x``)."""
    import re

    text = re.sub(r"\s*\(\{download\}`[^`]*`\)", "", text)
    return re.sub(r"\{[\w:-]+\}`([^`<]*?)\s*(?:<[^`]*>)?`", r"\1", text)


# ---------------------------------------------------------------------------------------------
# The book's chapters: one per study, generated
# ---------------------------------------------------------------------------------------------

def prepare_book_chapters(root: Path | str, template: Path | str | None = None) -> list[Path]:
    """Write ``<root>/book/reruns/<study>.ipynb`` for every study with at least one run under
    ``<root>/data/results``: the report template with the study's parameters injected, not
    executed (Jupyter Book executes it). Generated chapters of studies that are gone or empty
    are removed. Returns the chapters written, in the order the book lists them (by name).

    ``template`` defaults to ``<root>/notebooks/report.ipynb``. ``results_dir`` and
    ``studies_dir`` are injected only when they differ from :mod:`pepr.paths`' defaults, so the
    repository's own chapters keep the template's ``None`` (portable, and short to read).
    """
    from pepr.store import results

    root = Path(root).resolve()
    template = Path(template) if template is not None else root / "notebooks" / "report.ipynb"
    results_dir, studies_dir = root / "data" / "results", root / "data" / "studies"
    chapters = root / CHAPTERS_DIR
    studies = sorted(path.parent.name for path in results_dir.glob("*/runs.csv"))
    studies = [study for study in studies
               if not results.load(study, results_dir, include_failed=True).empty]
    folders = {name: str(folder) for name, folder, default in (
        ("results_dir", results_dir, paths.RESULTS_DIR), ("studies_dir", studies_dir, paths.STUDIES_DIR))
        if folder.resolve() != default.resolve()}
    if studies:
        check_parameters({"study": studies[0], **folders}, template)
        chapters.mkdir(parents=True, exist_ok=True)
    written = [write_chapter(template, chapters / f"{study}.ipynb", {"study": study, **folders})
               for study in studies]
    for stale in sorted(set(chapters.glob("*.ipynb")) - set(written)):
        if is_generated(stale):
            stale.unlink()
    return written


def write_chapter(template: Path, target: Path, parameters: Mapping[str, object]) -> Path:
    """The template with ``parameters`` injected (papermill, ``prepare_only``), marked as
    generated, written atomically to ``target``."""
    import nbformat
    import papermill

    node = papermill.execute_notebook(str(template), None, parameters=dict(parameters),
                                      prepare_only=True, kernel_name=KERNEL, progress_bar=False)
    tags = next((set(cell.metadata.get("tags", [])) for cell in node.cells
                 if "parameters" in cell.metadata.get("tags", [])), set())
    for cell in node.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = ["injected-parameters", *sorted(tags & DISPLAY_TAGS)]
    retitle(node, study_heading(str(parameters["study"]), parameters.get("title")))
    name_for_study(node, str(parameters["study"]))
    node.metadata[GENERATED_KEY] = {"template": template.name, "study": parameters["study"],
                                    "by": "pepr.reporting.render.prepare_book_chapters"}
    _write_text(target, nbformat.writes(node))
    return target


def is_generated(notebook: Path) -> bool:
    """Whether ``notebook`` is a chapter :func:`prepare_book_chapters` wrote."""
    import json

    try:
        return GENERATED_KEY in json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return False


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _plain(value: object) -> object:
    """A parameter value papermill can write into a cell (a path as its text)."""
    return str(value) if isinstance(value, Path) else value
