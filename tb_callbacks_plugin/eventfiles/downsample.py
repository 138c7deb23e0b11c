"""Reducing a long metric series to a few points without losing its spikes.

TensorBoard's own downsampling is a uniform random sample, which drops a
one-step loss spike with high probability. Here a series is cut into buckets
of consecutive points and each bucket keeps its lowest and highest point, so
the drawn line still reaches every extreme; the first and last points are
always kept so the line spans the whole run.

Non-finite values are facts worth seeing (a NaN loss ends training): a NaN
or +Infinity counts as a bucket's maximum and -Infinity as its minimum, so a
bucket that holds one keeps it.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_POINTS = 2000


def minmax_indices(values: np.ndarray, max_points: int = DEFAULT_MAX_POINTS) -> np.ndarray:
    """Sorted indices of the points of `values` to keep.

    Args:
      values: 1-D float array, in drawing order.
      max_points: most points to keep; at least 4.

    Returns:
      An int array of at most `max_points` increasing indices into `values`:
      all of them when there are no more than `max_points`, else the first,
      the last, and the minimum and maximum of each bucket in between.

    Example:

    ```python
    values = np.sin(np.arange(1_000_000) / 1000.0)
    values[123_457] = 50.0  # a spike
    keep = minmax_indices(values, 2000)
    assert len(keep) <= 2000 and 123_457 in keep
    ```
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    inner = values[1:-1]
    buckets = (max_points - 2) // 2
    # Bucket i covers inner[starts[i]:starts[i + 1]]; sizes differ by at most one.
    starts = (np.arange(buckets + 1) * len(inner)) // buckets
    size = int(np.max(np.diff(starts)))
    # Pad every bucket to the same size so one vectorized argmin/argmax over a
    # 2-D view handles them all (a Python loop over 1e6 points would not).
    # NaN ranks as +inf for both: the bucket's maximum, and its minimum
    # when nothing else is in it.
    ranked = np.where(np.isnan(inner), np.inf, inner)
    grid = starts[:-1, None] + np.arange(size)[None, :]
    valid = grid < starts[1:, None]
    grid = np.minimum(grid, len(inner) - 1)
    hi = np.where(valid, ranked[grid], -np.inf)
    lo = np.where(valid, ranked[grid], np.inf)
    rows = np.arange(buckets)
    keep_hi = grid[rows, np.argmax(hi, axis=1)]
    keep_lo = grid[rows, np.argmin(lo, axis=1)]
    # A bucket of only NaN finds no minimum below +inf: argmin then picks
    # its first point, which is a NaN, and that is the right point to keep.
    kept = np.unique(np.concatenate(([0], keep_lo + 1, keep_hi + 1, [n - 1])))
    return kept
