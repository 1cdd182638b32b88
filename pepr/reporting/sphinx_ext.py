"""The book's Sphinx extension: where the book came from, and pages without script errors.

Loaded by ``_config.yml`` (``sphinx: extra_extensions: [pepr.sphinx_ext]``). It

* sets the **repository** of every page's buttons from one setting, :data:`REPOSITORY_ENV`
  (the Pages workflow passes its own repository); without it, or when the clone's ``origin`` is
  not a hosted ``https`` address, the book shows no repository, issue or launch buttons rather
  than an invented address. Launch buttons (Binder only: the repository's ``environment.yml``
  installs ``pepr``) appear on notebook pages only;
* writes a **footer** on every page: the official release's commit, the results tables the
  pages were computed from (each study's ``runs.csv``: its rows and the start of its SHA-256),
  the ``pepr`` version, the git revision the book was built from (``+modified`` when the tree
  had changes) and the build date;
* loads each script **once** (jupyter-book's thebe configuration is added twice, which throws
  "Identifier 'THEBE_JS_URL' has already been declared" on every page) and sets the theme's
  colour mode to ``auto`` (an empty mode is a console error);
* makes "Download .ipynb" give the **executed** notebook, with its outputs, rather than the
  unexecuted source.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The one setting for the book's repository address (``https://host/owner/name``).
REPOSITORY_ENV = "PEPR_REPOSITORY_URL"

#: Hosted repositories whose address the launch and repository buttons can use.
HOSTED_URL = re.compile(r"^https://[^/\s]+/[^/\s]+/[^/\s]+?(\.git)?/?$")

#: Binder builds the repository's ``environment.yml``, which installs ``pepr`` itself.
BINDER_URL = "https://mybinder.org"

#: The branch the buttons link to: this variable, else the checked-out branch, else ``main``.
BRANCH_ENV = "PEPR_REPOSITORY_BRANCH"


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to know to tell which data and code a built page shows."""

    release_commit: str
    release_repository: str
    pepr_version: str
    git_revision: str
    build_date: str
    results: tuple[tuple[str, int, str], ...] = ()


#: How many hex digits of a results table's SHA-256 the footer shows.
CHECKSUM_DIGITS = 12


def results_snapshot(root: Path) -> tuple[tuple[str, int, str], ...]:
    """(study, rows, SHA-256 prefix) of each study's ``data/results/<study>/runs.csv``: the
    snapshot of results a build computed its pages from."""
    import csv
    import hashlib

    snapshot = []
    for table in sorted((root / "data" / "results").glob("*/runs.csv")):
        data = table.read_bytes()
        rows = sum(1 for _ in csv.reader(data.decode("utf-8").splitlines())) - 1
        snapshot.append((table.parent.name, max(rows, 0), hashlib.sha256(data).hexdigest()[:CHECKSUM_DIGITS]))
    return tuple(snapshot)


def snapshot_text(results: tuple[tuple[str, int, str], ...]) -> str:
    """``cpu-rerun 723 rows (sha256 1a2b…), pilot 20 rows (…)``: the footer's results."""
    from pepr.core.text import listing, plural

    return listing([f"{study} {plural(rows, 'row')} (sha256 {digest})" for study, rows, digest in results],
                   limit=len(results) or 1)


def repository_url(root: Path, environ: dict[str, str] | None = None) -> str | None:
    """The book's repository address: :data:`REPOSITORY_ENV`, else a hosted ``origin``, else None.

    An address that is not ``https://host/owner/name`` is ignored (a local path or an ``ssh``
    remote cannot be linked from a web page).
    """
    environ = os.environ if environ is None else environ
    candidates = [environ.get(REPOSITORY_ENV, "").strip(), git_output(root, "remote", "get-url", "origin")]
    for candidate in candidates:
        if candidate and HOSTED_URL.match(candidate):
            return re.sub(r"(\.git)?/?$", "", candidate)
    return None


def git_output(root: Path, *arguments: str) -> str:
    """The stripped output of ``git <arguments>`` in ``root``; empty when git fails or is absent."""
    try:
        completed = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def repository_branch(root: Path, environ: dict[str, str] | None = None) -> str:
    """The branch the repository and Binder buttons open: :data:`BRANCH_ENV`, else the
    checked-out branch, else ``main`` (a detached checkout, as in CI, names no branch)."""
    environ = os.environ if environ is None else environ
    branch = environ.get(BRANCH_ENV, "").strip() or git_output(root, "rev-parse", "--abbrev-ref", "HEAD")
    return branch if branch and branch != "HEAD" else "main"


def git_revision(root: Path) -> str:
    """The short commit the book is built from, ``+modified`` when tracked files have changed."""
    revision = git_output(root, "rev-parse", "--short=10", "HEAD")
    if not revision:
        return "unknown (not a git checkout)"
    dirty = git_output(root, "status", "--porcelain", "--untracked-files=no")
    return f"{revision}+modified" if dirty else revision


def provenance(root: Path, today: dt.date | None = None) -> Provenance:
    """The release commit, ``pepr`` version, git revision and build date for the footer."""
    from pepr import __version__
    from pepr.data import release

    return Provenance(release_commit=release.COMMIT, release_repository=release.REPOSITORY,
                      pepr_version=__version__, git_revision=git_revision(root),
                      build_date=(today or dt.date.today()).isoformat(), results=results_snapshot(root))


def footer_html(facts: Provenance, repository: str | None) -> str:
    """The footer line of every page (HTML): data, code and date of this build."""
    release = (f'<a href="https://github.com/{facts.release_repository}/tree/{facts.release_commit}">'
               f'{facts.release_repository}@{facts.release_commit[:7]}</a>')
    revision = facts.git_revision
    commit = revision.split("+")[0]
    if repository and re.fullmatch(r"[0-9a-f]{7,40}", commit):
        revision = f'<a href="{repository}/tree/{commit}">{revision}</a>'
    ours = f" Results tables (data/results/&lt;study&gt;/runs.csv): {snapshot_text(facts.results)}." if facts.results else ""
    return (f"Every number on these pages is computed at build time from the data. "
            f"Official release: {release}.{ours} pepr {facts.pepr_version}, git {revision}; "
            f"built {facts.build_date}.")


def commit_year(root: Path, today: dt.date | None = None) -> int:
    """The year of the commit the book is built from (the build's year outside a git checkout)."""
    date = git_output(root, "log", "-1", "--format=%cs")
    return int(date[:4]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) else (today or dt.date.today()).year


def clone_markdown(root: Path, environ: dict[str, str] | None = None) -> str:
    """How to get the repository, for the Reproduce page: a ``git clone`` of the book's one
    repository setting (:func:`repository_url`), or, for a book built without one, a sentence
    that says so instead of a made-up address."""
    url = repository_url(root, environ)
    if url is None:
        return (f"This copy of the book was built without a repository address ({REPOSITORY_ENV} "
                "unset and no hosted `origin`), so it names none: use the repository you have it "
                "from, and run the commands below in its folder.")
    return f"```bash\ngit clone {url} pepr && cd pepr\n```"


def theme_options(options: dict[str, Any], repository: str | None, footer: str,
                  branch: str = "main") -> dict[str, Any]:
    """``html_theme_options`` with the repository (and its ``branch``), launch buttons and footer."""
    updated = dict(options)
    updated["extra_footer"] = footer
    updated["repository_url"] = repository or ""
    updated["repository_branch"] = branch
    updated["use_repository_button"] = bool(repository)
    updated["use_issues_button"] = bool(repository)
    updated["use_edit_page_button"] = False
    launch = {"notebook_interface": "classic", "binderhub_url": BINDER_URL} if repository else {}
    updated["launch_buttons"] = launch
    return updated


def on_config_inited(app: Any, config: Any) -> None:
    """Set the repository, footer and colour mode before the HTML builder reads the theme."""
    root = Path(app.srcdir)
    repository = repository_url(root)
    config.html_theme_options = theme_options(dict(config.html_theme_options or {}), repository,
                                              footer_html(provenance(root), repository),
                                              repository_branch(root))
    # The theme reads its colour mode from the template context; empty is a console error.
    config.html_context = {**(config.html_context or {}), "default_mode": "auto"}


def unique_scripts(scripts: list) -> list:
    """``scripts`` with later duplicates (same file, or same inline body) removed, order kept."""
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(getattr(script, "filename", script) or ""), attributes.get("body", ""))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    return kept


def is_launch_button(button: dict) -> bool:
    """Whether a header button (or group) is the theme's launch menu."""
    text = " ".join(str(button.get(key, "")) for key in ("tooltip", "label", "icon"))
    return "rocket" in text or "Launch" in text


def on_page_context(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Load each script once; keep launch buttons on executed notebooks only."""
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])
    source = context.get("sourcename") or ""
    if "header_buttons" in context and not source.endswith(".ipynb.txt") and not source.endswith(".ipynb"):
        context["header_buttons"] = [b for b in context["header_buttons"] if not is_launch_button(b)]


def executed_copies(build_dir: Path) -> list[tuple[Path, Path]]:
    """(executed notebook, its download copy under ``html/_sources``) for every notebook page."""
    executed = build_dir / "jupyter_execute"
    sources = build_dir / "html" / "_sources"
    pairs = []
    for notebook in sorted(executed.rglob("*.ipynb")) if executed.is_dir() else []:
        target = sources / notebook.relative_to(executed)
        if target.exists():
            pairs.append((notebook, target))
    return pairs


def on_build_finished(app: Any, exception: Exception | None) -> None:
    """Replace each page's downloadable ``.ipynb`` by the notebook as executed for this build."""
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    for executed, target in executed_copies(Path(app.outdir).parent):
        shutil.copyfile(executed, target)


def setup(app: Any) -> dict[str, Any]:
    """Register the extension's event handlers (after the theme's own, priority 900)."""
    app.connect("config-inited", on_config_inited, priority=900)
    app.connect("html-page-context", on_page_context, priority=900)
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
