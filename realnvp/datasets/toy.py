"""Two-dimensional toy data with exact densities and true differential entropies.

Every data set here is a fixed probability distribution on the plane whose density is known
exactly (in closed form, or as a one-dimensional integral evaluated by high-order quadrature), so a
flow's held-out negative log-likelihood can be compared with its floor: the true differential
entropy ``H = -E[log p(x)]``, in nats, in the data's own units.

``noise`` is a standard deviation in data units for every data set (for ``pinwheel`` it is the
tangential spread of the arms, see :func:`_pinwheel_log_density`); it must lie in
:data:`NOISE_RANGE`, whose minimum 0.01 keeps every distribution a proper density (at noise 0 most
of them would collapse onto curves or points, where no density exists).

>>> x = make_points("moons", n=500, noise=0.1, seed=0)
>>> x.shape, x.dtype
((500, 2), dtype('float32'))
>>> h = true_entropy("moons", 0.1)
>>> bool(abs(h - 1.007) < 0.01)
True
>>> float(-log_density("moons", 0.1, x).mean()) > h - 0.2
True
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special
from scipy.spatial import cKDTree

__all__ = [
    "DATASETS",
    "DEFAULT_NOISE",
    "NOISE_RANGE",
    "Standardizer",
    "log_density",
    "make_points",
    "true_entropy",
    "true_entropy_with_error",
]

DATASETS: tuple[str, ...] = (
    "moons",
    "spirals",
    "circles",
    "8gaussians",
    "checkerboard",
    "pinwheel",
    "gaussian_mixture",
)
"""Names accepted by :func:`make_points`, :func:`log_density` and :func:`true_entropy`."""

DEFAULT_NOISE: dict[str, float] = {
    "moons": 0.1,
    "spirals": 0.1,
    "circles": 0.05,
    "8gaussians": 0.1,
    "checkerboard": 0.05,
    "pinwheel": 0.2,
    "gaussian_mixture": 0.1,
}
"""A sensible default ``noise`` per data set."""

NOISE_RANGE: tuple[float, float] = (0.01, 0.5)
"""Inclusive range of ``noise`` for every data set. The minimum is 0.01 (not 0): the density must exist."""

_LOG_2PI = math.log(2.0 * math.pi)
_MAX_SEED = 2**32 - 1
_ENTROPY_TARGET_SE = 0.003  # stop adding Monte-Carlo batches once the standard error is below this
_ENTROPY_MAX_SAMPLES = 600_000


# --------------------------------------------------------------------------- validation


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; accepted names: {', '.join(DATASETS)}")
    return name


def _check_noise(noise: Any) -> float:
    lo, hi = NOISE_RANGE
    try:
        value = float(noise)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(noise, bool) or not (lo - 1e-12 <= value <= hi + 1e-12):
        raise ValueError(
            f"noise must be a number in [{lo}, {hi}] (a standard deviation in data units; "
            f"it must be > 0 for a density to exist), got {noise!r}"
        )
    return min(max(value, lo), hi)


def _check_int(value: Any, what: str, lo: int, hi: int | None = None) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= lo and (hi is None or value <= hi):
        return int(value)
    accepted = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    raise ValueError(f"{what} must be {accepted}, got {value!r}")


def _check_points(points: Any) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be an array of shape (m, 2), got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- small helpers


def _gauss_logpdf_iso(z2: np.ndarray, sigma: float) -> np.ndarray:
    """log N(x; c, sigma^2 I) in 2-D from the squared distance ``z2 = |x - c|^2``."""
    return -0.5 * z2 / sigma**2 - _LOG_2PI - 2.0 * math.log(sigma)


def _log_ndtr_diff(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(Phi(hi) - Phi(lo))`` for ``hi > lo``, accurate in both tails."""
    flip = lo > 0  # Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi): keep the arguments on the accurate side
    a = np.where(flip, -hi, lo)
    b = np.where(flip, -lo, hi)
    log_b = special.log_ndtr(b)
    return log_b + np.log1p(-np.exp(special.log_ndtr(a) - log_b))


# --------------------------------------------------------------------------- curve data (moons, spirals)


@dataclass(frozen=True)
class _Arm:
    """One curve ``c(t)``, ``t`` in ``[t_lo, t_hi]`` with density ``exp(log_pdf(t))``, chosen with ``weight``."""

    curve: Callable[[np.ndarray], np.ndarray]
    t_lo: float
    t_hi: float
    log_pdf: Callable[[np.ndarray], np.ndarray]
    arc: Callable[[np.ndarray], np.ndarray]  # arc length from t_lo, increasing
    weight: float


@dataclass(frozen=True, eq=False)
class _CurveNodes:
    """Quadrature nodes along all arms: ``p(x) = sum_j exp(log_w[j]) N(x; points[j], sigma^2 I)``."""

    points: np.ndarray
    log_w: np.ndarray
    tree: cKDTree
    sigma: float


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(6)
_MAX_PANEL = 0.2  # data units of arc length
_DENSE_MAX = 1200  # sum over all nodes when there are at most this many


def _build_nodes(arms: tuple[_Arm, ...], sigma: float) -> _CurveNodes:
    """Composite 6-point Gauss-Legendre nodes, panels at most ``min(sigma, 0.2)`` long in arc length."""
    panel = min(sigma, _MAX_PANEL)
    pts, log_w = [], []
    for arm in arms:
        length = float(arm.arc(np.array([arm.t_hi]))[0] - arm.arc(np.array([arm.t_lo]))[0])
        n_panels = max(4, math.ceil(length / panel))
        t_tab = np.linspace(arm.t_lo, arm.t_hi, max(4097, 8 * n_panels + 1))
        s_tab = arm.arc(t_tab)
        edges = np.interp(np.linspace(s_tab[0], s_tab[-1], n_panels + 1), s_tab, t_tab)
        mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
        t = (mid[:, None] + half[:, None] * _GL_NODES).ravel()
        w = (half[:, None] * _GL_WEIGHTS).ravel()
        pts.append(arm.curve(t))
        log_w.append(math.log(arm.weight) + np.log(w) + arm.log_pdf(t))
    points = np.concatenate(pts)
    return _CurveNodes(points, np.concatenate(log_w), cKDTree(points), sigma)


def _sum_pairs(nodes: _CurveNodes, i: np.ndarray, j: np.ndarray, d2: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``log sum_j exp(log_w[j] - d2 / (2 sigma^2))`` per point from (point i, node j, squared distance) pairs."""
    terms = nodes.log_w[j] - 0.5 * d2 / nodes.sigma**2 - shift[i]
    return shift + np.log(np.bincount(i, weights=np.exp(terms), minlength=len(shift)))


def _curve_log_density(nodes: _CurveNodes, x: np.ndarray) -> np.ndarray:
    """Log of the Gaussian-smoothed curve density at ``x`` (m, 2).

    With few nodes every node is summed. Otherwise a point whose nearest node is at distance ``d``
    sums only the nodes within ``sqrt(d^2 + 100 sigma^2)`` (KD-tree range queries): each node left
    out is ``e^-50`` times smaller than the nearest node's term, and at most ~300 nodes remain.
    """
    sigma = nodes.sigma
    out = np.empty(len(x))
    if len(x) == 0:
        return out
    d_min, _ = nodes.tree.query(x)
    shift = float(nodes.log_w.max()) - 0.5 * (d_min / sigma) ** 2  # an upper bound on each point's terms
    if len(nodes.points) <= _DENSE_MAX:
        c_term = nodes.log_w - 0.5 * (nodes.points**2).sum(1) / sigma**2
        step = max(1, 1_000_000 // len(nodes.points))
        for start in range(0, len(x), step):
            xi, sh = x[start : start + step], shift[start : start + step]
            terms = (xi / sigma**2) @ nodes.points.T  # log_w - |x - c|^2 / (2 sigma^2), expanded
            terms += c_term
            terms -= (0.5 * (xi**2).sum(1) / sigma**2 + sh)[:, None]
            np.exp(terms, out=terms)
            out[start : start + step] = sh + np.log(terms.sum(1))
        return out - _LOG_2PI - 2.0 * math.log(sigma)
    # near the data (almost every sample): one fixed radius, pairs straight from a tree-tree query
    near_cut = 6.0 * sigma
    near = np.flatnonzero(d_min <= near_cut)
    radius = math.sqrt(near_cut**2 + 100.0 * sigma**2)
    for start in range(0, len(near), 4096):  # ~1e6 pairs (24 MB) per chunk
        idx = near[start : start + 4096]
        pairs = cKDTree(x[idx]).sparse_distance_matrix(nodes.tree, radius, output_type="ndarray")
        out[idx] = _sum_pairs(nodes, pairs["i"], pairs["j"], pairs["v"] ** 2, shift[idx])
    # farther points: a radius per point
    far = np.flatnonzero(d_min > near_cut)
    for start in range(0, len(far), 2048):  # Python lists of indices: keep the chunks small
        idx = far[start : start + 2048]
        xi = x[idx]
        lists = nodes.tree.query_ball_point(xi, np.sqrt(d_min[idx] ** 2 + 100.0 * sigma**2), return_sorted=False)
        counts = np.fromiter(map(len, lists), dtype=np.intp, count=len(lists))
        j = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.intp, count=int(counts.sum()))
        i = np.repeat(np.arange(len(idx)), counts)
        d2 = ((xi[i] - nodes.points[j]) ** 2).sum(1)
        out[idx] = _sum_pairs(nodes, i, j, d2, shift[idx])
    return out - _LOG_2PI - 2.0 * math.log(sigma)


def _moon_arms() -> tuple[_Arm, ...]:
    def outer(t: np.ndarray) -> np.ndarray:
        return np.stack([np.cos(t), np.sin(t)], axis=1)

    def inner(t: np.ndarray) -> np.ndarray:
        return np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)

    def uniform(t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, -math.log(math.pi))

    def arc(t: np.ndarray) -> np.ndarray:
        return np.asarray(t, dtype=np.float64)

    return (_Arm(outer, 0.0, math.pi, uniform, arc, 0.5), _Arm(inner, 0.0, math.pi, uniform, arc, 0.5))


_SPIRAL_TURNS = 1.5  # t runs over [0, 2 pi * 1.5]
_SPIRAL_T_MAX = 2.0 * math.pi * _SPIRAL_TURNS
_SPIRAL_SCALE = 1.0 / 3.0


def _spiral_curve(t: np.ndarray) -> np.ndarray:
    return _SPIRAL_SCALE * np.stack([-t * np.cos(t), t * np.sin(t)], axis=1)


def _spiral_arms() -> tuple[_Arm, ...]:
    def first(t: np.ndarray) -> np.ndarray:
        return _spiral_curve(t)

    def second(t: np.ndarray) -> np.ndarray:
        return -_spiral_curve(t)

    def log_pdf(t: np.ndarray) -> np.ndarray:  # t = T sqrt(u): p(t) = 2 t / T^2
        return np.log(2.0 * t / _SPIRAL_T_MAX**2)

    def arc(t: np.ndarray) -> np.ndarray:  # |c'(t)| = scale * sqrt(1 + t^2)
        return _SPIRAL_SCALE * 0.5 * (t * np.sqrt(1.0 + t * t) + np.arcsinh(t))

    return (_Arm(first, 0.0, _SPIRAL_T_MAX, log_pdf, arc, 0.5), _Arm(second, 0.0, _SPIRAL_T_MAX, log_pdf, arc, 0.5))


_ARMS: dict[str, Callable[[], tuple[_Arm, ...]]] = {"moons": _moon_arms, "spirals": _spiral_arms}


@functools.lru_cache(maxsize=32)
def _nodes(name: str, noise: float) -> _CurveNodes:
    return _build_nodes(_ARMS[name](), noise)


# --------------------------------------------------------------------------- closed-form densities

_CIRCLE_RADII = (1.0, 0.5)
_EIGHT_RADIUS = 2.0
_EIGHT_CENTRES = _EIGHT_RADIUS * np.stack(
    [np.cos(np.arange(8) * math.pi / 4), np.sin(np.arange(8) * math.pi / 4)], axis=1
)
# lower-left corners of the 8 "black" unit squares of a 4x4 board on [-2, 2]^2 (cell (i, j) with i + j even)
_CHECKER_CORNERS = np.array([(-2.0 + i, -2.0 + j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])

_PINWHEEL_ARMS = 5
_PINWHEEL_MEDIAN_RADIUS = 2.0
_PINWHEEL_LOG_RADIUS_STD = 0.3
_PINWHEEL_SWIRL = 0.25


def _rotated_cov(major: float, minor: float, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return rot @ np.diag([major**2, minor**2]) @ rot.T


_GMM_WEIGHTS = np.array([0.35, 0.25, 0.25, 0.15])
_GMM_MEANS = np.array([[-1.2, -0.8], [1.3, -1.0], [0.0, 1.3], [1.6, 1.3]])
_GMM_COVS = np.stack(
    [
        _rotated_cov(0.8, 0.2, 35.0),
        _rotated_cov(0.6, 0.15, -60.0),
        _rotated_cov(0.7, 0.3, 0.0),
        _rotated_cov(0.2, 0.2, 0.0),
    ]
)


def _circles_log_density(noise: float, x: np.ndarray) -> np.ndarray:
    r = np.hypot(x[:, 0], x[:, 1])
    terms = [
        math.log(0.5)
        - _LOG_2PI
        - 2.0 * math.log(noise)
        - 0.5 * ((r - big_r) / noise) ** 2
        + np.log(special.i0e(r * big_r / noise**2))
        for big_r in _CIRCLE_RADII
    ]
    return special.logsumexp(np.stack(terms, axis=1), axis=1)


def _eight_log_density(noise: float, x: np.ndarray) -> np.ndarray:
    d2 = ((x[:, None, :] - _EIGHT_CENTRES[None]) ** 2).sum(-1)
    return special.logsumexp(_gauss_logpdf_iso(d2, noise), axis=1) - math.log(8.0)


def _checkerboard_log_density(noise: float, x: np.ndarray) -> np.ndarray:
    terms = []
    for cx, cy in _CHECKER_CORNERS:
        lx = _log_ndtr_diff((x[:, 0] - cx - 1.0) / noise, (x[:, 0] - cx) / noise)
        ly = _log_ndtr_diff((x[:, 1] - cy - 1.0) / noise, (x[:, 1] - cy) / noise)
        terms.append(lx + ly)
    return special.logsumexp(np.stack(terms, axis=1), axis=1) - math.log(len(_CHECKER_CORNERS))


def _pinwheel_angle_mean(r: np.ndarray, arm: int) -> np.ndarray:
    return 2.0 * math.pi * arm / _PINWHEEL_ARMS + _PINWHEEL_SWIRL * np.exp(r / _PINWHEEL_MEDIAN_RADIUS)


def _pinwheel_log_density(noise: float, x: np.ndarray) -> np.ndarray:
    """Pinwheel density in polar terms: ``p(x) = p(r) p(theta | r) / r``.

    ``r`` is log-normal (median 2, log-std 0.3); given ``r`` and the arm ``k`` (uniform over 5),
    ``theta`` is von Mises with mean ``2 pi k / 5 + 0.25 exp(r / 2)`` and concentration
    ``(r / noise)^2`` (angular std ~ ``noise / r``: a tangential spread of ``noise`` data units).
    """
    r = np.maximum(np.hypot(x[:, 0], x[:, 1]), 1e-300)
    theta = np.arctan2(x[:, 1], x[:, 0])
    log_r = np.log(r)
    s = _PINWHEEL_LOG_RADIUS_STD
    log_p_r = -log_r - math.log(s) - 0.5 * _LOG_2PI - 0.5 * ((log_r - math.log(_PINWHEEL_MEDIAN_RADIUS)) / s) ** 2
    kappa = (r / noise) ** 2
    cos_terms = np.stack([np.cos(theta - _pinwheel_angle_mean(r, k)) - 1.0 for k in range(_PINWHEEL_ARMS)], axis=1)
    log_vm = (
        special.logsumexp(kappa[:, None] * cos_terms, axis=1)
        - math.log(_PINWHEEL_ARMS)
        - _LOG_2PI
        - np.log(special.i0e(kappa))
    )
    return log_p_r + log_vm - log_r


def _gmm_covs(noise: float) -> np.ndarray:
    return _GMM_COVS + noise**2 * np.eye(2)


def _gmm_component_logpdf(noise: float, x: np.ndarray) -> np.ndarray:
    """(m, K) array of ``log N(x; mu_k, Sigma_k + noise^2 I)``."""
    covs = _gmm_covs(noise)
    out = np.empty((len(x), len(_GMM_WEIGHTS)))
    for k, (mu, cov) in enumerate(zip(_GMM_MEANS, covs, strict=True)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (x - mu).T)
        out[:, k] = -0.5 * (z**2).sum(0) - _LOG_2PI - np.log(np.diag(chol)).sum()
    return out


def _gmm_log_density(noise: float, x: np.ndarray) -> np.ndarray:
    return special.logsumexp(_gmm_component_logpdf(noise, x) + np.log(_GMM_WEIGHTS), axis=1)


def _log_density_checked(name: str, noise: float, x: np.ndarray) -> np.ndarray:
    if name in _ARMS:
        return _curve_log_density(_nodes(name, noise), x)
    funcs = {
        "circles": _circles_log_density,
        "8gaussians": _eight_log_density,
        "checkerboard": _checkerboard_log_density,
        "pinwheel": _pinwheel_log_density,
        "gaussian_mixture": _gmm_log_density,
    }
    return funcs[name](noise, x)


# --------------------------------------------------------------------------- sampling


def _sample(name: str, n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw ``n`` points (float64) together with a control variate for the entropy.

    Returns ``(x, log_q, h_cond)`` where ``log_q`` is the log-density of each point given its latent
    variables (curve point, square, component...) and ``h_cond = -E[log_q]`` exactly, so that
    ``H = h_cond + E[log_q - log p]``; for ``pinwheel`` ``log_q = 0`` and ``h_cond = 0``.
    """
    if name == "gaussian_mixture":
        k = rng.choice(len(_GMM_WEIGHTS), size=n, p=_GMM_WEIGHTS)
        covs = _gmm_covs(noise)
        chols = np.linalg.cholesky(covs)
        z = rng.standard_normal((n, 2))
        x = _GMM_MEANS[k] + np.einsum("nij,nj->ni", chols[k], z)
        log_q = -0.5 * (z**2).sum(1) - _LOG_2PI - np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(1)[k]
        h_cond = float(np.sum(_GMM_WEIGHTS * (1.0 + _LOG_2PI + 0.5 * np.log(np.linalg.det(covs)))))
        return x, log_q, h_cond
    if name == "pinwheel":
        k = rng.integers(_PINWHEEL_ARMS, size=n)
        r = _PINWHEEL_MEDIAN_RADIUS * np.exp(_PINWHEEL_LOG_RADIUS_STD * rng.standard_normal(n))
        theta = _pinwheel_angle_mean(r, k) + rng.vonmises(0.0, (r / noise) ** 2)
        x = r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return x, np.zeros(n), 0.0
    # the rest: a latent clean point c plus isotropic Gaussian noise
    if name == "moons":
        t = rng.uniform(0.0, math.pi, n)
        c = np.stack([np.cos(t), np.sin(t)], axis=1)
        inner = rng.integers(2, size=n).astype(bool)
        c[inner] = np.array([1.0, 0.5]) - c[inner]
    elif name == "spirals":
        t = _SPIRAL_T_MAX * np.sqrt(rng.uniform(size=n))
        c = _spiral_curve(t)
        c[rng.integers(2, size=n).astype(bool)] *= -1.0
    elif name == "circles":
        radius = np.asarray(_CIRCLE_RADII)[rng.integers(2, size=n)]
        phi = rng.uniform(0.0, 2.0 * math.pi, n)
        c = radius[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    elif name == "8gaussians":
        c = _EIGHT_CENTRES[rng.integers(8, size=n)]
    elif name == "checkerboard":
        c = _CHECKER_CORNERS[rng.integers(len(_CHECKER_CORNERS), size=n)] + rng.uniform(size=(n, 2))
    else:  # pragma: no cover - names are validated before
        raise AssertionError(name)
    z = rng.standard_normal((n, 2))
    log_q = _gauss_logpdf_iso((z**2).sum(1) * noise**2, noise)
    return c + noise * z, log_q, 1.0 + _LOG_2PI + 2.0 * math.log(noise)


# --------------------------------------------------------------------------- public functions


def make_points(name: str, n: int = 2000, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points of a toy data set: an ``(n, 2)`` float32 array, deterministic in its arguments.

    Data sets (``noise`` = sigma, a standard deviation in data units, in :data:`NOISE_RANGE`):

    - ``moons``: exactly ``sklearn.datasets.make_moons(n, noise=sigma, random_state=seed)``: an outer
      half circle ``(cos t, sin t)`` and an inner one ``(1 - cos t, 0.5 - sin t)``, ``t`` in
      ``[0, pi]``, half the points each (sklearn spaces ``t`` evenly; the density is the ``n -> inf``
      limit, ``t`` uniform), plus isotropic Gaussian noise sigma.
    - ``spirals``: two interleaved arms ``c(t) = (-t cos t, t sin t) / 3`` and ``-c(t)`` (a 180 degree
      rotation), ``t = 3 pi sqrt(u)``, ``u ~ U(0, 1)`` (so ``p(t) = 2t / (3 pi)^2``, roughly uniform
      along the arms), 1.5 turns reaching radius pi, plus isotropic Gaussian noise sigma.
    - ``circles``: circles of radius 1 and 0.5 about the origin, probability 1/2 each, uniform
      angle, plus isotropic Gaussian noise sigma.
    - ``8gaussians``: 8 equally weighted isotropic Gaussians with std sigma centred at
      ``2 (cos(k pi/4), sin(k pi/4))``.
    - ``checkerboard``: uniform on the 8 black unit squares of a 4x4 board on ``[-2, 2]^2`` (the
      square ``[-2, -1]^2`` is black), plus isotropic Gaussian noise sigma.
    - ``pinwheel``: 5 curled arms, defined in polar terms: radius ``r = 2 exp(0.3 g)``, ``g ~ N(0, 1)``;
      arm ``k`` uniform in 0..4; angle ``2 pi k / 5 + 0.25 exp(r / 2) + v`` with ``v`` von Mises of
      concentration ``(r / sigma)^2`` (an angular std of about ``sigma / r``: sigma is the arms'
      tangential spread in data units; numpy draws ``v`` from its normal approximation when the
      concentration exceeds 1e6, i.e. only beyond ``r > 1000 sigma``).
    - ``gaussian_mixture``: a fixed mixture of 4 anisotropic Gaussians (weights 0.35, 0.25, 0.25, 0.15),
      each covariance plus ``sigma^2 I`` (equivalently: points plus isotropic Gaussian noise sigma).

    Except for ``moons`` the points are i.i.d. draws made with ``np.random.default_rng(seed)``.

    >>> make_points("circles", n=4, noise=0.05, seed=1).shape
    (4, 2)
    >>> bool((make_points("spirals", 10, 0.1, seed=3) == make_points("spirals", 10, 0.1, seed=3)).all())
    True
    """
    name = _check_name(name)
    n = _check_int(n, "n", 1)
    noise = _check_noise(noise)
    seed = _check_int(seed, "seed", 0, _MAX_SEED)
    if name == "moons":
        from sklearn.datasets import make_moons

        x, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    else:
        x, _, _ = _sample(name, n, noise, np.random.default_rng(seed))
    return np.ascontiguousarray(x, dtype=np.float32)


def log_density(name: str, noise: float, points: np.ndarray) -> np.ndarray:
    """Exact natural-log density of the data set's distribution at ``points`` (m, 2), as float64.

    Densities are in the data's own units (see :func:`make_points` for the definitions). The curve
    data sets (``moons``, ``spirals``) integrate the Gaussian along the curve by composite 6-point
    Gauss-Legendre quadrature, panels at most ``min(noise, 0.2)`` long: the error of ``log p`` is
    below 1e-7 within 6 noise-widths of a curve and ~1e-5 within 10; farther out, where ``log p`` is
    at least 50 below its peak, the panels stop resolving the integrand and the error grows (about
    0.2 at 20-50 widths, a few units where ``log p`` is ~ -1e4), irrelevant for any integral or
    plot. The other data sets are closed forms. Rows with a NaN give NaN, infinite rows ``-inf``.

    >>> p = np.exp(log_density("8gaussians", 0.1, np.array([[2.0, 0.0], [0.0, 0.0]])))
    >>> bool(np.isclose(p[0], 1 / (8 * 2 * np.pi * 0.1**2)))  # at a centre: 1/8 of one Gaussian's peak
    True
    """
    name = _check_name(name)
    noise = _check_noise(noise)
    x = _check_points(points)
    out = np.full(len(x), -np.inf)
    finite = np.isfinite(x).all(axis=1)
    out[np.isnan(x).any(axis=1)] = np.nan
    if finite.any():
        out[finite] = _log_density_checked(name, noise, x[finite])
    return out


@functools.lru_cache(maxsize=256)
def _entropy_cached(name: str, noise: float) -> tuple[float, float]:
    rng = np.random.default_rng([20_260_607, DATASETS.index(name)])
    batch = 20_000 if name in _ARMS else 100_000
    values: list[np.ndarray] = []
    h_cond = 0.0
    total = 0
    while True:
        x, log_q, h_cond = _sample(name, batch, noise, rng)
        values.append(log_q - _log_density_checked(name, noise, x))
        total += batch
        v = np.concatenate(values)
        se = float(v.std(ddof=1) / math.sqrt(len(v)))
        if se < _ENTROPY_TARGET_SE or total >= _ENTROPY_MAX_SAMPLES:
            return h_cond + float(v.mean()), se


def true_entropy_with_error(name: str, noise: float) -> tuple[float, float]:
    """True differential entropy ``-E[log p(x)]`` in nats and its Monte-Carlo standard error.

    Monte Carlo over the exact density (:func:`log_density`) with a fixed internal seed, using the
    generator's latent variables as a control variate (``H = H(x | latent) + E[log p(x | latent) -
    log p(x)]``, the first term exact); batches are added until the standard error is below 0.004.
    Cached per ``(name, round(noise, 6))``.

    >>> h, se = true_entropy_with_error("moons", 0.2)
    >>> bool(abs(h - 1.679) < 0.01), se < 0.005
    (True, True)
    """
    name = _check_name(name)
    noise = _check_noise(noise)
    return _entropy_cached(name, round(noise, 6))


def true_entropy(name: str, noise: float) -> float:
    """True differential entropy in nats (the floor of any model's expected NLL in data units).

    See :func:`true_entropy_with_error`.

    >>> round(true_entropy("8gaussians", 0.1), 2)  # log 8 + log(2 pi e 0.01)
    0.31
    """
    return true_entropy_with_error(name, noise)[0]


# --------------------------------------------------------------------------- standardisation


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "new_tensor")


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Affine standardisation ``y = (x - mean) / scale`` (optionally followed by a fixed decorrelating ``matrix``),
    kept to report NLLs in data units.

    Without ``matrix`` each column is standardised on its own. With ``matrix`` (a ``d × d`` invertible array) the
    map is ``y = ((x - mean) / scale) @ matrix.T``: :meth:`whitening` builds one from a full covariance, so ``y`` has
    identity covariance and a flow that starts as the identity starts as that full-covariance Gaussian.

    ``NLL_original = NLL_standardised - log_abs_det``. Arrays are stored as read-only float64
    copies; equality is identity (``eq=False``: arrays have no single truth value).

    >>> s = Standardizer.fit(np.array([[0.0, 1.0], [2.0, 5.0]]))
    >>> s.mean.tolist(), s.scale.tolist()
    ([1.0, 3.0], [1.0, 2.0])
    >>> s.transform(np.array([[2.0, 5.0]])).tolist()
    [[1.0, 1.0]]
    >>> round(s.log_abs_det, 6)  # -log 1 - log 2
    -0.693147
    >>> w = Standardizer.whitening([0.0, 0.0], [[4.0, 1.0], [1.0, 1.0]])
    >>> y = w.transform(np.random.default_rng(0).multivariate_normal([0, 0], [[4, 1], [1, 1]], 20000))
    >>> np.round(np.cov(y.T), 1).tolist(), round(w.log_abs_det, 6)  # -0.5 log det(cov) = -0.5 log 3
    ([[1.0, 0.0], [0.0, 1.0]], -0.549306)
    """

    mean: np.ndarray
    scale: np.ndarray
    matrix: np.ndarray | None = None

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=np.float64).reshape(-1)
        scale = np.array(self.scale, dtype=np.float64).reshape(-1)
        if mean.shape != scale.shape:
            raise ValueError(f"mean and scale must have the same length, got {mean.shape} and {scale.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("mean must be finite and scale finite and positive")
        mean.setflags(write=False)
        scale.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)
        if self.matrix is not None:
            matrix = np.array(self.matrix, dtype=np.float64)
            d = len(mean)
            if matrix.shape != (d, d) or not np.isfinite(matrix).all():
                raise ValueError(f"matrix must be a finite {d} x {d} array, got shape {matrix.shape}")
            sign, logdet = np.linalg.slogdet(matrix)
            if sign == 0 or not np.isfinite(logdet) or np.linalg.cond(matrix) > 1e12:
                raise ValueError("matrix must be invertible (and not nearly singular)")
            inverse = np.linalg.inv(matrix)
            for arr in (matrix, inverse):
                arr.setflags(write=False)
            object.__setattr__(self, "matrix", matrix)
            object.__setattr__(self, "_matrix_inverse", inverse)
            object.__setattr__(self, "_matrix_logdet", float(logdet))

    @classmethod
    def fit(cls, x: Any, whiten: bool = False) -> Standardizer:
        """Fit to data ``x`` (n, d): column means and (population) standard deviations.

        ``whiten=True`` also decorrelates with the (population) covariance, as :meth:`whitening`.
        Raises ValueError if ``x`` is not 2-D with ``n >= 2``, holds non-finite values, or a column
        has (near) zero variance (std <= 1e-9 * max(1, |mean|)).

        >>> Standardizer.fit(np.array([[1.0], [3.0]])).scale.tolist()
        [1.0]
        """
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] < 2:
            raise ValueError(f"x must be a 2-D array (n, d) with n >= 2, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=0))
        if bad.size:
            raise ValueError(f"column(s) {bad.tolist()} hold non-finite values")
        mean = arr.mean(axis=0)
        scale = arr.std(axis=0)
        flat = np.flatnonzero(scale <= 1e-9 * np.maximum(1.0, np.abs(mean)))
        if flat.size:
            raise ValueError(f"column(s) {flat.tolist()} have (near) zero variance; cannot standardise")
        if whiten:
            centred = arr - mean
            return cls.whitening(mean, centred.T @ centred / len(arr))
        return cls(mean, scale)

    @classmethod
    def whitening(cls, mean: Any, cov: Any) -> Standardizer:
        """The whitening map of a Gaussian ``N(mean, cov)``: ``y = ((x - mean) / sd) @ R^{-1/2}``.

        ``sd`` are the standard deviations (``sqrt(diag(cov))``) and ``R`` the correlation matrix; its symmetric
        inverse square root keeps each whitened axis as close as possible to its own column. Then ``y`` has
        identity covariance and ``log_abs_det = -0.5 log det(cov)`` exactly.

        >>> Standardizer.whitening([1.0, 2.0], [[1.0, 0.0], [0.0, 4.0]]).transform(np.array([[2.0, 4.0]])).tolist()
        [[1.0, 1.0]]
        """
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        cov = np.asarray(cov, dtype=np.float64)
        d = len(mean)
        if cov.shape != (d, d) or not np.isfinite(cov).all():
            raise ValueError(f"cov must be a finite {d} x {d} array, got shape {cov.shape}")
        cov = 0.5 * (cov + cov.T)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if not (sd > 0).all():
            raise ValueError("every column needs a positive variance to whiten")
        corr = cov / np.outer(sd, sd)
        eigval, eigvec = np.linalg.eigh(corr)
        if eigval.min() <= 1e-10 * eigval.max():
            raise ValueError("the columns are (nearly) collinear: the covariance is singular, cannot whiten")
        matrix = (eigvec / np.sqrt(eigval)) @ eigvec.T
        return cls(mean, sd, matrix)

    @property
    def linear(self) -> np.ndarray:
        """The linear part ``A`` of the map, ``transform(x) = (x - mean) @ A.T`` (a ``d × d`` array).

        >>> Standardizer(np.zeros(2), np.array([2.0, 4.0])).linear.tolist()
        [[0.5, 0.0], [0.0, 0.25]]
        """
        diag = np.diag(1.0 / self.scale)
        return diag if self.matrix is None else self.matrix @ diag

    def _apply(self, x: Any, forward: bool) -> Any:
        if _is_torch_tensor(x):
            if not x.is_floating_point():
                x = x.double()
            mean, scale = x.new_tensor(self.mean), x.new_tensor(self.scale)
            if self.matrix is None:
                return (x - mean) / scale if forward else x * scale + mean
            if forward:
                return ((x - mean) / scale) @ x.new_tensor(self.matrix).T
            return (x @ x.new_tensor(self._matrix_inverse).T) * scale + mean
        arr = np.asarray(x)
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        if arr.ndim == 0 or arr.shape[-1] != len(self.mean):
            raise ValueError(f"expected a last dimension of {len(self.mean)}, got shape {arr.shape}")
        arr = arr.astype(np.float64, copy=False)
        if self.matrix is None:
            out = (arr - self.mean) / self.scale if forward else arr * self.scale + self.mean
        elif forward:
            out = ((arr - self.mean) / self.scale) @ self.matrix.T
        else:
            out = (arr @ self._matrix_inverse.T) * self.scale + self.mean
        return out.astype(dtype, copy=False)

    def transform(self, x: Any) -> np.ndarray:
        """``(x - mean) / scale`` (then ``@ matrix.T``); float32 stays float32, other input becomes float64 (torch
        tensors stay tensors).

        >>> Standardizer(np.array([1.0]), np.array([2.0])).transform(np.array([[5.0]], dtype=np.float32))
        array([[2.]], dtype=float32)
        """
        return self._apply(x, forward=True)

    def inverse(self, y: Any) -> np.ndarray:
        """``y * scale + mean`` (after ``@ inverse(matrix).T``), the inverse of :meth:`transform` (same dtype rules).

        >>> Standardizer(np.array([1.0]), np.array([2.0])).inverse(np.array([[2.0]])).tolist()
        [[5.0]]
        """
        return self._apply(y, forward=False)

    @property
    def log_abs_det(self) -> float:
        """``log|det d transform / dx| = -sum(log scale) + log|det matrix|``;
        ``NLL_original = NLL_standardised - log_abs_det``.

        >>> round(Standardizer(np.zeros(2), np.array([2.0, 4.0])).log_abs_det, 6)  # -log 8
        -2.079442
        """
        ld = float(-np.log(self.scale).sum())
        return ld if self.matrix is None else ld + self._matrix_logdet
