"""2-D data: generators with exact densities and true entropies (:mod:`.toy`), and a user's own point files
(:mod:`.points`).

>>> from realnvp.datasets import make_points, true_entropy
>>> make_points("moons", n=4, noise=0.1, seed=0).shape, round(true_entropy("moons", 0.1), 2)
((4, 2), 1.01)
"""

from realnvp.datasets.toy import (
    DATASETS,
    DEFAULT_NOISE,
    NOISE_RANGE,
    Standardizer,
    log_density,
    make_points,
    true_entropy,
    true_entropy_with_error,
)

__all__ = [
    "DATASETS",
    "DEFAULT_NOISE",
    "NOISE_RANGE",
    "Standardizer",
    "log_density",
    "make_points",
    "true_entropy",
    "true_entropy_with_error",
    "load_points",
    "LoadReport",
    "PointsError",
]


def __getattr__(name: str):
    # the point-file reader (pandas, charset-normalizer) is imported on first use: a training process never needs it
    if name in ("load_points", "LoadReport", "PointsError"):
        from realnvp.datasets import points

        return getattr(points, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
