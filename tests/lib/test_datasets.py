"""Tests for realnvp.datasets: sampling, exact densities, true entropies and the Standardizer.

The entropy checks are independent of the module's own Monte Carlo: a Kozachenko-Leonenko
k-nearest-neighbour estimate from ``make_points`` samples only, and histograms of samples against
the density integrated over the same bins.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy.spatial import cKDTree
from sklearn.datasets import make_moons

from realnvp.datasets import (
    DATASETS,
    DEFAULT_NOISE,
    NOISE_RANGE,
    Standardizer,
    log_density,
    make_points,
    true_entropy,
    true_entropy_with_error,
)

# where each distribution's mass lies before the noise (noise widens these by a margin in the tests)
BOXES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "moons": ((-1.0, 2.0), (-0.5, 1.0)),
    "spirals": ((-math.pi, math.pi), (-math.pi, math.pi)),
    "circles": ((-1.0, 1.0), (-1.0, 1.0)),
    "8gaussians": ((-2.0, 2.0), (-2.0, 2.0)),
    "checkerboard": ((-2.0, 2.0), (-2.0, 2.0)),
    "pinwheel": ((-7.5, 7.5), (-7.5, 7.5)),  # log-normal radius: P(r > 7.5) ~ 5e-6
    "gaussian_mixture": ((-6.5, 6.5), (-6.5, 6.5)),
}

MOONS_REFERENCE = {0.05: 0.289, 0.1: 1.007, 0.2: 1.679}  # /work/shared/NOTES.md, "Reference numbers"


def grid(name: str, noise: float, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres of a grid covering the data set's box plus 8 noise widths, and the cell edges."""
    edges = []
    for lo, hi in BOXES[name]:
        lo, hi = lo - 8 * noise, hi + 8 * noise
        m = math.ceil((hi - lo) / step)
        edges.append(np.linspace(lo, hi, m + 1))
    cx, cy = (0.5 * (e[1:] + e[:-1]) for e in edges)
    return np.stack(np.meshgrid(cx, cy, indexing="ij"), axis=-1).reshape(-1, 2), edges[0], edges[1]


def knn_entropy(x: np.ndarray, k: int = 3) -> float:
    """Kozachenko-Leonenko entropy estimate (nats) in 2-D from samples only."""
    n = len(x)
    radius = cKDTree(x).query(x, k=k + 1)[0][:, -1]
    return float(special.digamma(n) - special.digamma(k) + math.log(math.pi) + 2.0 * np.log(radius).mean())


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("name", DATASETS)
def test_points_shape_dtype_and_determinism(name: str) -> None:
    noise = DEFAULT_NOISE[name]
    x = make_points(name, n=257, noise=noise, seed=3)
    assert x.shape == (257, 2)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, make_points(name, n=257, noise=noise, seed=3))
    assert not np.array_equal(x, make_points(name, n=257, noise=noise, seed=4))
    assert make_points(name, n=1, noise=noise, seed=0).shape == (1, 2)
    assert make_points(name, n=np.int64(5), noise=noise, seed=np.int32(2)).shape == (5, 2)


def test_constants() -> None:
    assert set(DEFAULT_NOISE) == set(DATASETS)
    assert DEFAULT_NOISE["moons"] == 0.1
    lo, hi = NOISE_RANGE
    assert 0 < lo < hi
    assert all(lo <= v <= hi for v in DEFAULT_NOISE.values())


def test_moons_is_sklearn() -> None:
    x = make_points("moons", n=1001, noise=0.15, seed=42)
    expected, _ = make_moons(n_samples=1001, noise=0.15, random_state=42)
    np.testing.assert_array_equal(x, expected.astype(np.float32))


def test_default_arguments() -> None:
    assert make_points("moons").shape == (2000, 2)


@pytest.mark.parametrize("bad", ["nope", "Moons", "", None, 3])
def test_bad_name_lists_accepted_names(bad: object) -> None:
    for call in (
        lambda: make_points(bad, 10, 0.1),  # type: ignore[arg-type]
        lambda: log_density(bad, 0.1, np.zeros((1, 2))),  # type: ignore[arg-type]
        lambda: true_entropy(bad, 0.1),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert all(name in str(info.value) for name in DATASETS)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "10", None])
def test_bad_n(bad: object) -> None:
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        make_points("circles", bad, 0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0.0, -0.1, 0.005, 0.51, 1.0, math.nan, math.inf, "x", None])
def test_bad_noise_names_range(bad: object) -> None:
    lo, hi = NOISE_RANGE
    for call in (
        lambda: make_points("moons", 10, bad),  # type: ignore[arg-type]
        lambda: log_density("moons", bad, np.zeros((1, 2))),  # type: ignore[arg-type]
        lambda: true_entropy("moons", bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert f"[{lo}, {hi}]" in str(info.value)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0"])
def test_bad_seed(bad: object) -> None:
    with pytest.raises(ValueError, match="seed must be an integer in"):
        make_points("pinwheel", 10, 0.1, seed=bad)  # type: ignore[arg-type]


def test_noise_range_ends_are_accepted() -> None:
    for noise in NOISE_RANGE:
        assert make_points("spirals", 5, noise).shape == (5, 2)


def test_log_density_input_handling() -> None:
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        log_density("circles", 0.1, np.zeros(2))
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        log_density("circles", 0.1, np.zeros((4, 3)))
    assert log_density("moons", 0.1, np.zeros((0, 2))).shape == (0,)
    out = log_density("moons", 0.1, np.array([[np.nan, 0.0], [np.inf, 0.0], [0.0, 1.0]], dtype=np.float32))
    assert out.dtype == np.float64
    assert np.isnan(out[0]) and out[1] == -np.inf and np.isfinite(out[2])


# --------------------------------------------------------------------------- exact densities


@pytest.mark.parametrize("noise", [0.05, 0.3])
@pytest.mark.parametrize("name", DATASETS)
def test_density_integrates_to_one(name: str, noise: float) -> None:
    step = noise / 1.5
    points, ex, ey = grid(name, noise, step)
    logp = log_density(name, noise, points)
    assert np.isfinite(logp).all()
    mass = np.exp(logp).sum() * np.diff(ex)[0] * np.diff(ey)[0]
    assert mass == pytest.approx(1.0, abs=2e-3)


# boxes for the histogram test: most of the mass (the rest is pooled into one "outside" cell)
HIST_BOXES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    **BOXES,
    "pinwheel": ((-4.5, 4.5), (-4.5, 4.5)),
    "gaussian_mixture": ((-3.5, 3.5), (-3.0, 3.0)),
}


@pytest.mark.parametrize("name", DATASETS)
def test_density_matches_histogram_of_samples(name: str) -> None:
    """Chi-square test: 40 x 40 bins (plus one cell for the rest), probabilities from the density
    (2-point Gauss-Legendre on sub-cells of ~noise/1.5), counts from 200k fresh samples. Bins are about
    the noise width, so a density whose shape differs from the sampler's (a 5 % wider arm, a shifted
    moon) fails."""
    noise, n, nb = DEFAULT_NOISE[name], 200_000, 40
    x = make_points(name, n=n, noise=noise, seed=11).astype(np.float64)
    bins = [np.linspace(lo - 4 * noise, hi + 4 * noise, nb + 1) for lo, hi in HIST_BOXES[name]]
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=bins)
    sub = max(2, *(math.ceil(np.diff(b)[0] / (noise / 1.5)) for b in bins))
    nodes, widths = [], []
    for b in bins:
        edges = np.linspace(b[0], b[-1], nb * sub + 1)
        centre, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
        offset = width / (2 * math.sqrt(3))
        nodes.append(np.stack([centre - offset, centre + offset], axis=1).ravel())
        widths.append(width)
    pts = np.stack(np.meshgrid(*nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    dens = np.exp(log_density(name, noise, pts)).reshape(len(nodes[0]), len(nodes[1]))
    prob = dens.reshape(nb, 2 * sub, nb, 2 * sub).sum(axis=(1, 3)) * widths[0] * widths[1] / 4
    observed = np.append(counts.ravel(), n - counts.sum())
    expected = n * np.append(prob.ravel(), max(1.0 - prob.sum(), 0.0))
    keep = expected >= 5
    observed = np.append(observed[keep], observed[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    used = expected > 0
    assert observed[~used].sum() == 0, "samples where the density is zero"
    chi2 = float((((observed - expected) ** 2)[used] / expected[used]).sum())
    dof = int(used.sum()) - 1
    assert chi2 < dof + 6 * math.sqrt(2 * dof), f"chi2 {chi2:.0f} for {dof} degrees of freedom"


def test_moons_density_against_brute_force_quadrature() -> None:
    """An independent midpoint rule over the half-circle angle (200k nodes per moon)."""
    noise = 0.07
    theta = (np.arange(200_000) + 0.5) * math.pi / 200_000
    centres = np.concatenate(
        [np.stack([np.cos(theta), np.sin(theta)], 1), np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], 1)]
    )
    pts = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.25], [-1.0, 0.0], [2.0, 0.5], [1.0, -0.5], [0.3, 0.6]])
    d2 = ((pts[:, None, :] - centres[None]) ** 2).sum(-1)
    expected = (
        special.logsumexp(-0.5 * d2 / noise**2, axis=1) - math.log(len(centres)) - math.log(2 * math.pi * noise**2)
    )
    np.testing.assert_allclose(log_density("moons", noise, pts), expected, atol=1e-6)


def test_closed_forms_against_direct_formulas() -> None:
    noise = 0.2
    # circles: average of the Gaussian over the ring, by an independent angle sum
    phi = (np.arange(20_000) + 0.5) * 2 * math.pi / 20_000
    pts = np.array([[0.0, 0.0], [0.7, 0.1], [-1.2, 0.4], [0.3, -0.3]])
    dens = np.zeros(len(pts))
    for radius in (1.0, 0.5):
        ring = radius * np.stack([np.cos(phi), np.sin(phi)], 1)
        d2 = ((pts[:, None, :] - ring[None]) ** 2).sum(-1)
        dens += 0.5 * np.exp(-0.5 * d2 / noise**2).mean(1) / (2 * math.pi * noise**2)
    np.testing.assert_allclose(log_density("circles", noise, pts), np.log(dens), rtol=1e-9)
    # checkerboard far inside a black square: ~1/8; inside a white square: much less
    inside = log_density("checkerboard", 0.01, np.array([[-1.5, -1.5], [-0.5, -1.5]]))
    assert inside[0] == pytest.approx(math.log(1 / 8), abs=1e-9)
    assert inside[1] < -100
    # 8 gaussians: one Gaussian's peak / 8
    peak = log_density("8gaussians", 0.1, np.array([[0.0, 2.0]]))[0]
    assert peak == pytest.approx(-math.log(8 * 2 * math.pi * 0.01), abs=1e-9)


def test_density_tails_are_finite() -> None:
    far = np.array([[10.0, 10.0], [-30.0, 5.0], [0.0, 0.0], [1e-12, 0.0]])
    for name in DATASETS:
        out = log_density(name, NOISE_RANGE[0], far)
        assert not np.isnan(out).any(), name
        assert (out < 10).all(), name


# --------------------------------------------------------------------------- entropies


@pytest.mark.parametrize(("noise", "expected"), sorted(MOONS_REFERENCE.items()))
def test_moons_entropy_matches_reference(noise: float, expected: float) -> None:
    assert true_entropy("moons", noise) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("noise", [0.05, "default", 0.3])
@pytest.mark.parametrize("name", DATASETS)
def test_entropy_matches_knn_estimate(name: str, noise: float | str) -> None:
    """Independent check: Kozachenko-Leonenko (k=3) on 40k samples agrees within 0.04 nats.

    Measured disagreement while writing the test: at most ~0.02 (estimator bias + its sampling noise).
    """
    sigma = DEFAULT_NOISE[name] if noise == "default" else float(noise)
    h, se = true_entropy_with_error(name, sigma)
    assert se < 0.005
    x = make_points(name, n=40_000, noise=sigma, seed=7).astype(np.float64)
    assert knn_entropy(x) == pytest.approx(h, abs=0.04)


@pytest.mark.parametrize("name", DATASETS)
def test_mean_log_density_of_samples_is_minus_entropy(name: str) -> None:
    noise = DEFAULT_NOISE[name]
    h, se = true_entropy_with_error(name, noise)
    nll = -log_density(name, noise, make_points(name, n=50_000, noise=noise, seed=5).astype(np.float64))
    sample_se = nll.std() / math.sqrt(len(nll))
    assert nll.mean() == pytest.approx(h, abs=5 * math.hypot(se, sample_se))


def test_entropy_known_limits() -> None:
    # well-separated equal-weight Gaussians: log 8 + the entropy of one Gaussian
    assert true_entropy("8gaussians", 0.05) == pytest.approx(
        math.log(8) + math.log(2 * math.pi * math.e * 0.0025), abs=1e-4
    )
    # thin noise on 8 unit squares: close to log 8 (+ a small boundary term)
    assert true_entropy("checkerboard", 0.01) == pytest.approx(math.log(8), abs=0.05)
    # entropy grows with the noise (values the k-NN test computes too: the cache serves them)
    for name in DATASETS:
        values = [true_entropy(name, s) for s in (0.05, DEFAULT_NOISE[name], 0.3)]
        assert values[0] <= values[1] <= values[2] and values[0] < values[2], name


def test_entropy_error_and_cache() -> None:
    from realnvp.datasets import toy

    toy._entropy_cached.cache_clear()
    toy._nodes.cache_clear()
    for name in DATASETS:  # the smallest noise needs the most quadrature nodes
        h, se = true_entropy_with_error(name, NOISE_RANGE[0])
        assert 0 < se < 0.005 and math.isfinite(h)
    first = true_entropy("spirals", 0.1)
    hits = toy._entropy_cached.cache_info().hits
    assert first == true_entropy("spirals", 0.1 + 1e-9)  # noise rounded to 1e-6 in the cache key
    assert true_entropy("spirals", 0.1) == true_entropy_with_error("spirals", 0.1)[0]
    assert toy._entropy_cached.cache_info().hits >= hits + 2  # served from the cache, not recomputed


# --------------------------------------------------------------------------- Standardizer


def test_standardizer_round_trip_and_moments() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -2.0, 10.0], [0.5, 4.0, 1e-3], size=(1000, 3))
    s = Standardizer.fit(x)
    y = s.transform(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(y.std(0), 1.0, rtol=1e-9)
    np.testing.assert_allclose(s.inverse(y), x, rtol=1e-12, atol=1e-12)
    x32 = x.astype(np.float32)
    y32 = s.transform(x32)
    assert y32.dtype == np.float32 and s.inverse(y32).dtype == np.float32
    np.testing.assert_allclose(s.inverse(y32), x32, rtol=1e-6, atol=1e-5)
    assert s.transform(np.array([3, 1, 10])).dtype == np.float64  # ints become float64, 1-D works
    with pytest.raises(ValueError):
        s.transform(np.zeros((2, 2)))


def test_standardizer_log_abs_det_is_the_jacobian() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 2)) * [0.3, 7.0] + [1.0, -4.0]
    s = Standardizer.fit(x)
    point, eps = np.array([0.2, 0.4]), 1e-6
    jac = np.stack([(s.transform(point + eps * e) - s.transform(point - eps * e)) / (2 * eps) for e in np.eye(2)], 1)
    assert s.log_abs_det == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)
    # NLL bookkeeping: log p_x(x) = log p_y(T(x)) + log|det dT/dx| for a Gaussian x ~ N(m, diag(s^2))
    m, sd = np.array([1.0, -4.0]), np.array([0.3, 7.0])
    fixed = Standardizer(m, sd)
    z = fixed.transform(x)
    log_px = (-0.5 * ((x - m) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)).sum(1)
    log_py = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(1)
    np.testing.assert_allclose(log_px, log_py + fixed.log_abs_det, rtol=1e-12)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]]),  # constant first column
        np.array([[1e6, 1.0], [1e6 + 1e-7, 2.0]]),  # numerically constant
        np.array([[np.nan, 1.0], [1.0, 2.0]]),
        np.array([[np.inf, 1.0], [1.0, 2.0]]),
        np.array([1.0, 2.0, 3.0]),  # not 2-D
        np.zeros((1, 2)),  # one row
    ],
)
def test_standardizer_rejects(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        Standardizer.fit(bad)


def test_standardizer_message_names_the_column() -> None:
    with pytest.raises(ValueError, match=r"column\(s\) \[1\].*zero variance"):
        Standardizer.fit(np.array([[0.0, 4.0], [1.0, 4.0], [2.0, 4.0]]))
    with pytest.raises(ValueError):
        Standardizer(np.zeros(2), np.array([1.0, 0.0]))


def test_standardizer_is_frozen_and_accepts_torch() -> None:
    s = Standardizer.fit(np.array([[0.0, 1.0], [2.0, 5.0]]))
    with pytest.raises(AttributeError):
        s.mean = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.mean[0] = 5.0  # read-only
    torch = pytest.importorskip("torch")
    t = torch.tensor([[2.0, 5.0]], requires_grad=True)
    y = s.transform(t)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    np.testing.assert_allclose(y.detach().numpy(), [[1.0, 1.0]])
    y.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [[1.0, 0.5]])
    np.testing.assert_allclose(s.inverse(y).detach().numpy(), [[2.0, 5.0]])
