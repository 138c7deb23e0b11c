"""Min/max bucket reduction of metric series (tb_callbacks_plugin.eventfiles.downsample)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tb_callbacks_plugin.eventfiles.downsample import minmax_indices
from tb_callbacks_plugin.eventfiles.scalar_series import sibling_runs, x_axis


def test_short_series_are_kept_whole():
    assert minmax_indices(np.arange(10.0), 2000).tolist() == list(range(10))
    assert minmax_indices(np.array([]), 2000).tolist() == []


def test_a_single_spike_in_a_million_points_survives():
    values = np.sin(np.arange(1_000_000) / 1000.0)
    values[123_457] = 50.0
    values[654_321] = -50.0
    start = time.perf_counter()
    keep = minmax_indices(values, 2000)
    elapsed = time.perf_counter() - start
    assert len(keep) <= 2000
    assert 123_457 in keep and 654_321 in keep
    assert keep[0] == 0 and keep[-1] == 999_999
    assert elapsed < 2.0  # vectorized: a per-point Python loop would take far longer


def test_nan_and_infinities_are_kept_where_they_occur():
    values = np.ones(100_000)
    values[10] = np.nan
    values[50_000] = np.inf
    values[70_000] = -np.inf
    values[90_000:] = np.nan  # training diverged
    keep = set(minmax_indices(values, 500).tolist())
    assert {10, 50_000, 70_000} <= keep
    assert any(i >= 90_000 for i in keep)


@settings(max_examples=200, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(0, 3000),
        elements=st.one_of(
            st.floats(-1e6, 1e6),
            st.sampled_from([np.nan, np.inf, -np.inf]),
        ),
    ),
    max_points=st.integers(4, 600),
)
def test_properties(values, max_points):
    keep = minmax_indices(values, max_points)
    n = len(values)
    assert keep.tolist() == sorted(set(keep.tolist()))
    if n <= max_points:
        assert keep.tolist() == list(range(n))
        return
    assert len(keep) <= max_points
    assert keep[0] == 0 and keep[-1] == n - 1
    finite = values[np.isfinite(values)]
    kept = values[keep]
    if len(finite):
        # The series' overall extremes are always drawn.
        assert np.max(finite) in kept[np.isfinite(kept)] or np.inf in kept or np.any(np.isnan(kept))
        assert np.min(finite) in kept[np.isfinite(kept)] or -np.inf in kept
    if np.any(np.isnan(values)):
        assert np.any(np.isnan(kept)) or np.inf in kept


def test_max_points_below_four_is_refused():
    with pytest.raises(ValueError):
        minmax_indices(np.arange(10.0), 3)


def test_sibling_runs_are_the_runs_of_one_experiment():
    runs = [
        "a/train",
        "a/validation",
        "a/eval",
        "b/train",
        "a",
        "a/train/deeper",
        "a/custom",
        ".",
        "train",
        "top",
    ]
    group = ["a", "a/eval", "a/train", "a/validation"]
    assert sibling_runs("a/train", runs) == group
    assert sibling_runs("a", runs) == group
    assert sibling_runs("a/eval", runs) == group
    assert sibling_runs("a/custom", runs) == ["a/custom"]
    assert sibling_runs("a/train/deeper", runs) == ["a/train/deeper"]
    assert sibling_runs(".", runs) == [".", "train"]
    assert sibling_runs("top", runs) == ["top"]
    assert sibling_runs("zzz/q", runs) == ["zzz/q"]
    # A run named like a prefix of another is not its experiment.
    assert sibling_runs("a", ["a", "a/x", "ab/train", "a0", "a.b"]) == ["a"]


def test_x_axis_follows_keras_tag_names():
    assert x_axis("epoch_loss") == "epoch"
    assert x_axis("batch_loss") == "step"
    assert x_axis("evaluation_loss_vs_iterations") == "step"
