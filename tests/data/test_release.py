"""Tests for pepr.release: the one description of the official release, and that the rest of
the package reads the release from it."""

from __future__ import annotations

import re

from pepr.data import paper, release
from pepr.scoring import analysis
from pepr.store import results


def test_the_release_is_described_once_and_read_from_there():
    assert paper.PAPER_FILES is release.FILES
    assert paper.PAPER_COMMIT == release.COMMIT
    assert results.PAPER_SETTINGS is release.SETTINGS
    assert results.PAPER_PROTOCOL is release.PROTOCOL
    assert analysis.PAPER_COMPARISONS is release.COMPARISONS
    assert set(release.RELEASE) == {"repository", "commit", "license", "files", "settings", "protocol", "comparisons",
                                    "published_most_accurate"}
    assert release.RELEASE["settings"] is release.SETTINGS


def test_files_are_pinned_to_the_commit_with_a_sha256():
    for name, remote in release.FILES.items():
        assert remote.name == name and remote.group == "paper"
        assert release.COMMIT in remote.url and remote.url.endswith("/" + name)
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256 or "")


def test_settings_come_in_the_order_all_results_lists_them(data_dir):
    raw = paper.read_paper_table("all_results.csv")
    assert list(release.SETTINGS) == list(dict.fromkeys(raw["dataset"]))
    assert analysis.setting_order(results.import_paper()) == list(release.SETTINGS)


def test_comparisons_name_known_settings_in_two_disjoint_arms():
    for label, (first, second) in release.COMPARISONS.items():
        assert first and second and not set(first) & set(second), label
        assert set(first) | set(second) <= set(release.SETTINGS), label


def test_imported_runs_carry_the_protocol_and_the_settings(data_dir):
    runs = results.import_paper()
    for key, value in release.PROTOCOL.items():
        assert set(runs[key]) == {value}, key
    table = analysis.setting_table(runs).set_index("setting")
    for name, spec in release.SETTINGS.items():
        assert table.loc[name, "dataset"] == spec["dataset"]
        assert table.loc[name, "data_fraction"] == spec["data_fraction"]
        assert (table.loc[name, "start"] == "ImageNet weights") == spec["pretrained"]


def test_published_most_accurate_is_a_most_accurate_model_of_each_setting():
    from pepr.store import results

    runs = results.import_paper()
    assert set(release.PUBLISHED_MOST_ACCURATE) == set(release.SETTINGS)
    for setting, model in release.PUBLISHED_MOST_ACCURATE.items():
        group = runs[runs["setting"] == setting]
        best = group["test_acc"].max()
        assert group.loc[group["model"] == model, "test_acc"].iloc[0] == best, setting
