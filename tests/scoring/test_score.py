"""The PePR score: hand-computed cases, its documented properties, degenerate pools."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pepr.core.errors import BadParameterError
from pepr.scoring import score


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_pepr_hand_computed() -> None:
    # P = 0.8 with R = 0.25 gives 0.8 / 1.25 = 0.64; R = 0 keeps P; R = 1 halves it.
    assert score.pepr(0.8, 0.25) == pytest.approx(0.64)
    assert score.pepr(0.9, 0.0) == 0.9
    assert score.pepr(0.9, 1.0) == 0.45


def test_minmax_normalise_hand_computed() -> None:
    got = score.minmax_normalise(pd.Series([2.0, 4.0, 10.0]))
    assert got.tolist() == [0.0, 0.25, 1.0]


def test_add_pepr_two_settings_are_normalised_apart() -> None:
    df = frame(
        setting=["a", "a", "a", "b", "b"],
        test_acc=[0.5, 0.6, 0.9, 0.7, 0.8],
        energy_kwh=[1.0, 2.0, 3.0, 100.0, 300.0],
    )
    out = score.add_pepr(df, resources={"e": "energy_kwh"})
    assert out["E_n"].tolist() == [0.0, 0.5, 1.0, 0.0, 1.0]
    assert out["pepr_e"].tolist() == pytest.approx([0.5, 0.4, 0.45, 0.7, 0.4])
    assert "pepr_e" not in df.columns  # input untouched


def test_pepr_lies_between_half_and_full_performance() -> None:
    rng = np.random.default_rng(0)
    df = frame(setting=["s"] * 50, test_acc=rng.uniform(0, 1, 50), energy_kwh=rng.lognormal(size=50))
    out = score.add_pepr(df, resources={"e": "energy_kwh"})
    assert (out["pepr_e"] <= out["test_acc"] + 1e-15).all()
    assert (out["pepr_e"] >= out["test_acc"] / 2 - 1e-15).all()
    assert out.loc[out["energy_kwh"].idxmin(), "pepr_e"] == out.loc[out["energy_kwh"].idxmin(), "test_acc"]


def test_pepr_is_unit_free() -> None:
    df = frame(setting=["s"] * 4, test_acc=[0.5, 0.6, 0.7, 0.8], energy_kwh=[1.0, 5.0, 2.0, 9.0])
    in_wh = df.assign(energy_kwh=df["energy_kwh"] * 1000)
    a = score.add_pepr(df, resources={"e": "energy_kwh"})["pepr_e"]
    b = score.add_pepr(in_wh, resources={"e": "energy_kwh"})["pepr_e"]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_pepr_depends_on_the_pool() -> None:
    df = frame(setting=["s"] * 3, test_acc=[0.6, 0.7, 0.8], energy_kwh=[1.0, 2.0, 3.0])
    bigger = pd.concat([df, frame(setting=["s"], test_acc=[0.9], energy_kwh=[30.0])], ignore_index=True)
    alone = score.add_pepr(df, resources={"e": "energy_kwh"})["pepr_e"]
    pooled = score.add_pepr(bigger, resources={"e": "energy_kwh"})["pepr_e"].iloc[:3]
    assert (pooled.to_numpy() > alone.to_numpy()).sum() == 2  # all but the cheapest gain


@pytest.mark.parametrize("energies", [[5.0], [2.0, 2.0, 2.0]])
def test_degenerate_pool_gives_zero_resource(energies: list[float]) -> None:
    df = frame(setting=["s"] * len(energies), test_acc=[0.7] * len(energies), energy_kwh=energies)
    out = score.add_pepr(df, resources={"e": "energy_kwh"})
    assert (out["E_n"] == 0).all()
    assert (out["pepr_e"] == out["test_acc"]).all()


def test_nan_resource_gives_nan_score_and_is_left_out_of_min_max() -> None:
    df = frame(setting=["s"] * 3, test_acc=[0.5, 0.6, 0.7], energy_kwh=[1.0, np.nan, 3.0])
    out = score.add_pepr(df, resources={"e": "energy_kwh"})
    assert np.isnan(out["pepr_e"].iloc[1])
    assert out["E_n"].iloc[[0, 2]].tolist() == [0.0, 1.0]


def test_whole_frame_pool() -> None:
    df = frame(setting=["a", "b"], test_acc=[0.5, 0.5], energy_kwh=[1.0, 3.0])
    out = score.add_pepr(df, resources={"e": "energy_kwh"}, pool=[])
    assert out["E_n"].tolist() == [0.0, 1.0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(BadParameterError):
        score.pepr(1.5, 0.1)
    with pytest.raises(BadParameterError):
        score.pepr(0.5, 2.0)
    with pytest.raises(BadParameterError, match="no column"):
        score.add_pepr(frame(setting=["s"], test_acc=[0.5]), resources={"e": "energy_kwh"})
    with pytest.raises(BadParameterError, match="performance"):
        score.add_pepr(frame(setting=["s"], energy_kwh=[0.5]), resources={"e": "energy_kwh"})


def test_pareto_front() -> None:
    df = frame(test_acc=[0.9, 0.8, 0.85, 0.7, 0.9], energy_kwh=[3.0, 1.0, 2.0, 1.5, 3.0])
    front = score.pareto_front(df, "test_acc", "energy_kwh")
    # (0.8, 1) cheapest; (0.85, 2) better and dearer; (0.9, 3) best; (0.7, 1.5) dominated;
    # the tie (0.9, 3) twice: neither strictly beats the other, both are on the front.
    assert front.tolist() == [True, True, True, False, True]


def test_top_k_ranks_within_groups() -> None:
    df = frame(setting=["a", "a", "a", "b", "b"], pepr_e=[0.1, 0.3, 0.2, 0.5, 0.4], model=list("vwxyz"))
    top = score.top_k(df, "pepr_e", k=2)
    assert top["model"].tolist() == ["w", "x", "y", "z"]
    assert top["rank"].tolist() == [1, 2, 1, 2]


def test_pepr_m_scores_the_runs_own_memory_on_cpu_rows():
    frame = pd.DataFrame({
        "setting": ["s"] * 3, "test_acc": [0.8, 0.8, 0.8],
        "peak_mem_gb": [1.29, 1.38, 1.30], "run_mem_gb": [0.05, 0.14, 0.50],
        "mem_kind": ["cpu-rss"] * 3,
    })
    scored = score.add_pepr(frame, resources={"m": score.RESOURCES["m"]})
    assert scored["mem_gb"].tolist() == [0.05, 0.14, 0.50]
    assert scored["M_n"].tolist() == pytest.approx([0.0, 0.2, 1.0])
    gpu = frame.assign(mem_kind="gpu-reserved")
    assert score.scored_memory(gpu).tolist() == [1.29, 1.38, 1.30]
    older = frame.assign(run_mem_gb=np.nan)  # rows from before run_mem_gb: the raw peak
    assert score.scored_memory(older).tolist() == [1.29, 1.38, 1.30]


def test_rank_within_ranks_each_pool_best_first_and_ties_share_the_better_rank() -> None:
    df = frame(setting=["b", "a", "a", "a", "b"], pepr_e=[0.5, 0.2, 0.9, 0.9, 0.7], model=list("vwxyz"))
    ranked = score.rank_within(df, "pepr_e")
    assert ranked["setting"].tolist() == ["a", "a", "a", "b", "b"]
    assert ranked["model"].tolist() == ["x", "y", "w", "z", "v"]  # ties keep the input's order
    assert ranked["rank"].tolist() == [1, 1, 3, 1, 2]
    assert len(df.columns) == 3 and "rank" not in df.columns  # the input is left alone


def test_rank_within_top_keeps_ties_at_the_cut_and_drops_unscored_runs() -> None:
    df = frame(setting=["a"] * 4 + ["b"] * 2, test_acc=[0.8, 0.9, 0.9, np.nan, np.nan, 0.6])
    ranked = score.rank_within(df, "test_acc")
    assert ranked["rank"].isna().tolist() == [False, False, False, True, False, True]  # NaN last
    top = score.rank_within(df, "test_acc", top=1)
    assert top["test_acc"].tolist() == [0.9, 0.9, 0.6] and top["rank"].tolist() == [1, 1, 1]


def test_rank_within_an_empty_pool_ranks_the_whole_frame() -> None:
    df = frame(setting=["a", "b", "a"], pepr_t=[0.3, 0.9, 0.6])
    assert score.rank_within(df, "pepr_t", pool=[])["rank"].tolist() == [1, 2, 3]
    assert score.rank_within(df, "pepr_t", pool=[])["pepr_t"].tolist() == [0.9, 0.6, 0.3]


def test_rank_within_refuses_what_it_cannot_rank() -> None:
    df = frame(setting=["a"], pepr_e=[0.5])
    with pytest.raises(BadParameterError, match="no column 'pepr_m'"):
        score.rank_within(df, "pepr_m")
    with pytest.raises(BadParameterError, match="pool column"):
        score.rank_within(df, "pepr_e", pool=["dataset"])
    with pytest.raises(BadParameterError, match="positive"):
        score.rank_within(df, "pepr_e", top=0)


def test_rank_scores_are_scored_columns() -> None:
    scored = score.add_pepr(frame(setting=["a", "a"], test_acc=[0.5, 0.6], energy_kwh=[1.0, 2.0],
                                  co2_g=[1.0, 2.0], train_time_s=[1.0, 2.0], peak_mem_gb=[1.0, 2.0]))
    assert set(score.RANK_SCORES) <= set(scored.columns)
