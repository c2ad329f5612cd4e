"""What the "Your own points" page shows, computed from a fit (no Streamlit): display windows, the score table and
the files to download.

- :func:`display_window` — one window per axis from robust statistics, so columns in different units each fill
  their axis and a few far outliers are listed instead of deciding the view;
- :func:`score_rows` — every row of the user's file (original columns kept, keyed by the file's own row number)
  with its log-density, its percentile among the validation points' log-densities and a calibrated flag;
- :func:`scored_csv` and :func:`unflagged_csv` — the downloads.

>>> import numpy as np
>>> pts = np.random.default_rng(0).normal(size=(200, 2)) * [1.0, 1000.0]
>>> w = display_window(pts)
>>> w.x[1] - w.x[0] < 10 < w.y[1] - w.y[0]  # each axis keeps its own units
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Window",
    "display_window",
    "ScoredRows",
    "score_rows",
    "scored_csv",
    "unflagged_csv",
    "grid",
    "FitForLayers",
]

LOG_P, PERCENTILE, FLAG = "log p (nats)", "percentile among validation", "flagged"


@dataclass(frozen=True)
class Window:
    """Display bounds per axis, ``x = (lo, hi)`` and ``y = (lo, hi)``, and the points left outside them."""

    x: tuple[float, float]
    y: tuple[float, float]
    outside: np.ndarray  # indices (into the points) of the points outside the window

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (*self.x, *self.y)


def display_window(points: np.ndarray, tail: float = 0.01, margin: float = 0.35) -> Window:
    """Per-axis bounds: the ``tail``…``1 − tail`` quantiles of each column widened by ``margin`` of their span.

    A handful of far outliers cannot stretch the view; they are returned in ``outside`` so the page can list them.

    >>> pts = np.concatenate([np.random.default_rng(1).normal(size=(500, 2)), [[1e6, 0.0]]])
    >>> w = display_window(pts)
    >>> w.x[1] < 10, w.outside.tolist()
    (True, [500])
    """
    points = np.asarray(points, dtype=np.float64)
    axes = []
    for column in points.T:
        lo, hi = np.quantile(column, [tail, 1.0 - tail])
        span = hi - lo
        if not span > 0:  # (almost) constant column: a unit window around it
            span = max(abs(float(lo)), 1.0) * 0.1
        axes.append((float(lo - margin * span), float(hi + margin * span)))
    (x0, x1), (y0, y1) = axes
    out = (points[:, 0] < x0) | (points[:, 0] > x1) | (points[:, 1] < y0) | (points[:, 1] > y1)
    return Window((x0, x1), (y0, y1), np.flatnonzero(out))


def grid(window: Window, resolution: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``resolution²`` grid over the window: ``(xs, ys, points (resolution², 2))``, rows varying fastest in x.

    >>> xs, ys, pts = grid(Window((0.0, 1.0), (0.0, 2.0), np.array([])), resolution=3)
    >>> pts[:4].tolist()
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    xs, ys = np.linspace(*window.x, resolution), np.linspace(*window.y, resolution)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


@dataclass
class ScoredRows:
    """Every row of the user's file with its score: ``table`` keeps the original columns and adds
    ``log p (nats)``, ``percentile among validation`` and ``flagged``; rows that were not used (a bad cell, or
    subsampled away) keep empty scores. ``threshold`` is the ``quantile``-th percentile of the validation
    points' log-densities."""

    table: pd.DataFrame
    threshold: float
    quantile: float

    @property
    def n_flagged(self) -> int:
        return int(self.table[FLAG].sum())

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged rows, least likely first."""
        return self.table[self.table[FLAG]].sort_values(LOG_P)


def score_rows(
    log_prob: np.ndarray,
    row_numbers: np.ndarray,
    validation_log_prob: np.ndarray,
    quantile: float = 0.01,
    table: pd.DataFrame | None = None,
) -> ScoredRows:
    """Score a file's rows: ``log_prob[i]`` belongs to the file's row ``row_numbers[i]``.

    The flag is calibrated on points the model did not train on: a row is flagged when its log-density is below
    the ``quantile``-th quantile of ``validation_log_prob`` (so about ``quantile`` of ordinary points are flagged).

    >>> rows = score_rows(np.array([-1.0, -9.0, -2.0]), np.array([2, 3, 4]), np.array([-1.0, -2.0, -3.0]), 0.5)
    >>> rows.table[[LOG_P, FLAG]].values.tolist(), rows.threshold
    ([[-1.0, False], [-9.0, True], [-2.0, False]], -2.0)
    """
    if not 0 < quantile < 1:
        raise ValueError(f"the flag quantile must be between 0 and 1 (exclusive), got {quantile}")
    log_prob = np.asarray(log_prob, dtype=np.float64)
    row_numbers = np.asarray(row_numbers)
    reference = np.sort(np.asarray(validation_log_prob, dtype=np.float64))
    threshold = float(np.quantile(reference, quantile))
    percentile = 100.0 * np.searchsorted(reference, log_prob, side="right") / max(len(reference), 1)
    scores = pd.DataFrame(
        {LOG_P: log_prob, PERCENTILE: percentile, FLAG: log_prob < threshold},
        index=pd.Index(row_numbers, name="row"),
    )
    if table is None:
        out = scores
    else:
        out = table.join(scores, how="left")
        out[FLAG] = out[FLAG].astype("boolean").fillna(False).astype(bool)
    return ScoredRows(out, threshold, float(quantile))


def scored_csv(rows: ScoredRows) -> str:
    """The user's rows and columns plus log p, percentile and flag, as CSV (the row number first)."""
    return rows.table.to_csv(index=True, float_format="%.6g")


def unflagged_csv(rows: ScoredRows) -> str:
    """The user's file without the flagged rows (original columns only), as CSV."""
    keep = rows.table[~rows.table[FLAG]]
    original = [c for c in keep.columns if c not in (LOG_P, PERCENTILE, FLAG)]
    return keep[original].to_csv(index=False)


class FitForLayers:
    """A :class:`realnvp.fit.PointsFit` seen through what the Layer-by-layer page reads from a ``Trainer``: the
    model and its whitening, the training rows (also standardised, ``x_train``), ``log_prob`` in data units, a
    view window and a one-entry history (the kept weights' step and NLLs).

    >>> import numpy as np
    >>> from realnvp import fit_points
    >>> x = np.random.default_rng(0).normal(size=(120, 2)) * [1.0, 50.0]
    >>> view = FitForLayers(fit_points(x, max_steps=10, budget_s=None), x, "demo")
    >>> view.x_train.shape[1], len(view.view_bounds()), np.allclose(view.log_prob(x[:2]), view.fit.log_prob(x[:2]))
    (2, 4, True)
    """

    def __init__(self, fit, points: np.ndarray, name: str):
        from types import SimpleNamespace

        import torch

        self.fit, self.model, self.standardizer, self.name = fit, fit.model, fit.standardizer, name
        self.train_points = np.asarray(points, dtype=np.float64)[fit.train_index]
        self.x_train = torch.as_tensor(self.standardizer.transform(self.train_points), dtype=torch.float32)
        self.step_count = int(fit.config.best_step)
        self.history = SimpleNamespace(
            train_nll=[float(fit.config.train_nll_at_best)], heldout_nll=[float(fit.heldout_nll)], events=[]
        )
        self._window = display_window(points)

    def log_prob(self, points) -> np.ndarray:
        return self.fit.log_prob(np.asarray(points, dtype=np.float64))

    def view_bounds(self) -> tuple[float, float, float, float]:
        return self._window.bounds
