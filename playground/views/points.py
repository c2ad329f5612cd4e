"""Scoring a user's point cloud with a trained flow: held-out split, per-point log-density, anomaly threshold.

>>> import numpy as np
>>> train, heldout = split_points(np.random.default_rng(0).normal(size=(100, 2)), heldout_fraction=0.2, seed=0)
>>> train.shape, heldout.shape
((80, 2), (20, 2))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["split_points", "Scores", "score_points"]


def split_points(points: np.ndarray, heldout_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split into (train, held-out); the held-out part has at least one point."""
    points = np.asarray(points, dtype=np.float64)
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    if len(points) < 2:
        raise ValueError(f"need at least 2 points to split, got {len(points)}")
    order = np.random.default_rng(seed).permutation(len(points))
    n_held = min(max(1, int(round(heldout_fraction * len(points)))), len(points) - 1)
    return points[order[n_held:]], points[order[:n_held]]


@dataclass
class Scores:
    """Per-point log-density and the points below an anomaly threshold (a quantile of the scores)."""

    log_density: np.ndarray  # (n,) nats, data units
    threshold: float  # log-density below which a point is flagged
    flagged: np.ndarray  # indices of flagged points, least likely first

    def table(self, points: np.ndarray, limit: int = 50) -> list[dict[str, float]]:
        """The least likely points as rows for display."""
        return [
            {"row": int(i), "x": float(points[i, 0]), "y": float(points[i, 1]), "log p(x)": float(self.log_density[i])}
            for i in self.flagged[:limit]
        ]


def score_points(log_density_fn, points: np.ndarray, quantile: float = 0.02) -> Scores:
    """Score ``points`` with ``log_density_fn`` (e.g. ``trainer.log_prob``); flag the lowest ``quantile`` of them."""
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    log_density = np.asarray(log_density_fn(points), dtype=np.float64)
    threshold = float(np.quantile(log_density, quantile)) if len(log_density) else float("nan")
    below = np.flatnonzero(log_density <= threshold) if quantile > 0 else np.array([], dtype=int)
    flagged = below[np.argsort(log_density[below])]
    return Scores(log_density, threshold, flagged)
