"""The book's Sphinx extension: one repository setting, an honest footer, scripts loaded once."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from pepr.reporting import sphinx_ext

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git_repo(path: Path, origin: str | None = None) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "a.txt").write_text("a\n")
    subprocess.run(["git", "-C", str(path), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "a"], check=True)
    if origin:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


@pytest.mark.parametrize("environ, origin, expected", [
    ({}, None, None),
    ({}, "/some/local/path", None),
    ({}, "git@github.com:owner/name.git", None),
    ({}, "https://github.com/owner/name.git", "https://github.com/owner/name"),
    ({"PEPR_REPOSITORY_URL": "https://gitlab.com/group/pepr/"}, "https://github.com/o/n", "https://gitlab.com/group/pepr"),
    ({"PEPR_REPOSITORY_URL": "not a url"}, None, None),
])
def test_repository_url_comes_from_one_setting_or_a_hosted_origin(tmp_path, environ, origin, expected):
    root = _git_repo(tmp_path / "repo", origin)
    assert sphinx_ext.repository_url(root, environ) == expected


def test_without_a_repository_no_button_points_anywhere():
    options = sphinx_ext.theme_options({"repository_url": "https://github.com/executablebooks/jupyter-book",
                                        "launch_buttons": {"colab_url": "https://colab.research.google.com"}},
                                       None, "footer")
    assert options["repository_url"] == "" and not options["use_repository_button"]
    assert not options["use_issues_button"] and options["launch_buttons"] == {}
    assert options["extra_footer"] == "footer"


def test_with_a_repository_binder_is_the_only_launch_service():
    options = sphinx_ext.theme_options({"repository_branch": "master"}, "https://github.com/o/n", "footer", "main")
    assert options["repository_url"] == "https://github.com/o/n" and options["use_repository_button"]
    assert options["repository_branch"] == "main"
    assert options["launch_buttons"] == {"notebook_interface": "classic", "binderhub_url": "https://mybinder.org"}


def test_footer_names_release_version_revision_and_date(tmp_path):
    root = _git_repo(tmp_path / "repo")
    facts = sphinx_ext.provenance(root, today=dt.date(2026, 1, 2))
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert facts.git_revision == head
    (root / "a.txt").write_text("changed\n")
    assert sphinx_ext.provenance(root).git_revision == f"{head}+modified"
    html = sphinx_ext.footer_html(facts, "https://github.com/o/n")
    assert facts.release_commit[:7] in html and f"pepr {facts.pepr_version}" in html
    assert f'href="https://github.com/o/n/tree/{head}"' in html and "built 2026-01-02" in html
    assert "href=\"https://github.com/o/n" not in sphinx_ext.footer_html(facts, None)


def test_footer_outside_a_git_checkout_says_so(tmp_path):
    assert sphinx_ext.git_revision(tmp_path) == "unknown (not a git checkout)"


class _Script(str):
    def __new__(cls, filename, **attributes):
        script = super().__new__(cls, filename or "")
        script.filename, script.attributes = filename, attributes
        return script


def test_each_script_is_loaded_once_in_order():
    thebe = _Script(None, body='const THEBE_JS_URL = "x"')
    scripts = [_Script("a.js"), thebe, _Script("b.js"), _Script(None, body='const THEBE_JS_URL = "x"'),
               _Script("a.js"), _Script(None, body="other")]
    kept = sphinx_ext.unique_scripts(scripts)
    assert [(s.filename, s.attributes.get("body")) for s in kept] == [
        ("a.js", None), (None, 'const THEBE_JS_URL = "x"'), ("b.js", None), (None, "other")]


def test_launch_buttons_stay_on_notebook_pages_only():
    launch = {"type": "group", "tooltip": "Launch interactive content", "icon": "fas fa-rocket"}
    download = {"type": "group", "tooltip": "Download this page", "icon": "fas fa-download"}
    for source, expected in [("book/about.md.txt", [download]), ("notebooks/a.ipynb", [launch, download])]:
        context = {"sourcename": source, "header_buttons": [launch, download]}
        sphinx_ext.on_page_context(None, "page", "page.html", context, None)
        assert context["header_buttons"] == expected


def test_downloads_are_the_executed_notebooks(tmp_path):
    build = tmp_path / "_build"
    (build / "jupyter_execute" / "nb").mkdir(parents=True)
    (build / "html" / "_sources" / "nb").mkdir(parents=True)
    (build / "jupyter_execute" / "nb" / "a.ipynb").write_text("executed")
    (build / "jupyter_execute" / "nb" / "orphan.ipynb").write_text("executed")
    (build / "html" / "_sources" / "nb" / "a.ipynb").write_text("source")
    app = SimpleNamespace(outdir=str(build / "html"), builder=SimpleNamespace(format="html"))
    sphinx_ext.on_build_finished(app, None)
    assert (build / "html" / "_sources" / "nb" / "a.ipynb").read_text() == "executed"
    assert not (build / "html" / "_sources" / "nb" / "orphan.ipynb").exists()


def test_config_sets_colour_mode_footer_and_no_invented_repository(tmp_path):
    root = _git_repo(tmp_path / "repo")
    config = SimpleNamespace(html_theme_options={"repository_url": "https://github.com/executablebooks/jupyter-book"},
                             html_context={})
    sphinx_ext.on_config_inited(SimpleNamespace(srcdir=str(root)), config)
    assert config.html_context["default_mode"] == "auto"
    assert config.html_theme_options["repository_url"] == "" and "pepr " in config.html_theme_options["extra_footer"]


def test_buttons_open_the_checked_out_branch_or_main(tmp_path):
    root = _git_repo(tmp_path / "repo")
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "-b", "work"], check=True)
    assert sphinx_ext.repository_branch(root, {}) == "work"
    assert sphinx_ext.repository_branch(root, {"PEPR_REPOSITORY_BRANCH": "release"}) == "release"
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "--detach"], check=True)
    assert sphinx_ext.repository_branch(root, {}) == "main"
    assert sphinx_ext.repository_branch(tmp_path, {}) == "main"  # not a checkout


def test_footer_names_each_results_table_with_its_rows_and_checksum(tmp_path):
    import hashlib

    table = tmp_path / "data" / "results" / "mine" / "runs.csv"
    table.parent.mkdir(parents=True)
    table.write_text('run_id,model,error\nr1,m,"two\nlines"\nr2,m,\n')
    snapshot = sphinx_ext.results_snapshot(tmp_path)
    assert snapshot == (("mine", 2, hashlib.sha256(table.read_bytes()).hexdigest()[:sphinx_ext.CHECKSUM_DIGITS]),)
    facts = sphinx_ext.provenance(tmp_path, today=dt.date(2026, 1, 2))
    assert f"mine 2 rows (sha256 {snapshot[0][2]})" in sphinx_ext.footer_html(facts, None)
    table.write_text("run_id\nr1\n")
    assert "mine 1 row (sha256" in sphinx_ext.footer_html(sphinx_ext.provenance(tmp_path), None)


def test_the_clone_command_comes_from_the_one_setting_never_a_placeholder(tmp_path):
    said = sphinx_ext.clone_markdown(tmp_path, {})
    assert "git clone" not in said and "REPOSITORY-URL" not in said and "PEPR_REPOSITORY_URL" in said
    said = sphinx_ext.clone_markdown(tmp_path, {"PEPR_REPOSITORY_URL": "https://github.com/o/pepr"})
    assert "git clone https://github.com/o/pepr pepr" in said


def test_the_compendium_is_cited_with_version_year_and_address():
    from pepr.reporting import book

    cff = book.read_citation(REPO_ROOT)
    said = book.software_citation_markdown(cff, 2026, "https://github.com/o/pepr")
    assert f"version {cff['version']}, 2026. <https://github.com/o/pepr>" in said
    assert "without a repository address" in book.software_citation_markdown(cff, 2026, None)
    bibtex = book.citation_bibtex(cff, 2026, "https://github.com/o/pepr")
    assert "year    = {2026}" in bibtex and "url     = {https://github.com/o/pepr}" in bibtex
    committed = subprocess.run(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%cs"],
                               capture_output=True, text=True).stdout.strip()
    assert sphinx_ext.commit_year(REPO_ROOT) == int(committed[:4])  # the commit's year, not today's


def test_outside_a_checkout_the_year_is_the_builds(tmp_path):
    assert sphinx_ext.commit_year(tmp_path, today=dt.date(2031, 5, 6)) == 2031
