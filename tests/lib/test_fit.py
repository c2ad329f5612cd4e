"""realnvp.fit_points: a fit on a small table that never does worse than a Gaussian and never collapses onto a grid.

Every fit here is small (a few hundred steps, ≤ a few seconds); the moons run at the end is marked slow.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp, ndtr

import realnvp
from realnvp import datasets
from realnvp.checkpoint import load_flow, standardizer_from_meta
from realnvp.fit import PointsFit, detect_resolution, fit_points

ROOT = Path(__file__).resolve().parents[2]

torch.set_num_threads(1)


# --------------------------------------------------------------------------- known densities

# a 3-component mixture with full covariances (for the held-out test) ...
MIX_W = np.array([0.45, 0.35, 0.20])
MIX_MU = np.array([[0.0, 0.0], [3.0, 2.0], [-2.5, 3.0]])
MIX_COV = np.array([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.3], [-0.3, 0.6]], [[0.3, 0.0], [0.0, 1.2]]])


def mixture_sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.choice(len(MIX_W), size=n, p=MIX_W)
    chol = np.linalg.cholesky(MIX_COV)
    return MIX_MU[k] + np.einsum("nij,nj->ni", chol[k], rng.normal(size=(n, 2)))


def mixture_log_density(x: np.ndarray) -> np.ndarray:
    comps = [stats.multivariate_normal(m, c).logpdf(x) for m, c in zip(MIX_MU, MIX_COV, strict=True)]
    return logsumexp(np.stack(comps, axis=1) + np.log(MIX_W), axis=1)


# ... and one with diagonal covariances, whose mass in every grid cell is exact (products of normal CDFs)
GRID_W = np.array([0.5, 0.3, 0.2])
GRID_MU = np.array([[0.0, 0.0], [3.0, 1.5], [-2.0, 2.5]])
GRID_SD = np.array([[1.0, 0.5], [0.75, 1.25], [0.5, 0.5]])


def grid_sample(n: int, seed: int, h: float) -> np.ndarray:
    """Rows from the diagonal mixture (in units of ``h``: the same shape for every ``h``), rounded to ``h``."""
    rng = np.random.default_rng(seed)
    k = rng.choice(len(GRID_W), size=n, p=GRID_W)
    z = GRID_MU[k] + GRID_SD[k] * rng.normal(size=(n, 2))
    return np.round(z) * h


def dequantised_nll(rows: np.ndarray, h: float) -> float:
    """The exact NLL of the de-quantised truth on grid rows: -mean log P(cell) + 2 log h (the best possible)."""
    mu, sd = GRID_MU * h, GRID_SD * h
    lo = (rows[:, None, :] - h / 2 - mu) / sd
    hi = (rows[:, None, :] + h / 2 - mu) / sd
    with np.errstate(divide="ignore"):  # a component with (numerically) no mass in a far cell
        log_mass = logsumexp(np.log(ndtr(hi) - ndtr(lo)).sum(-1) + np.log(GRID_W), axis=1)
    return float(-log_mass.mean() + 2 * math.log(h))


def gaussian_nll(train: np.ndarray, test: np.ndarray) -> float:
    return -float(stats.multivariate_normal(train.mean(0), np.cov(train.T, bias=True)).logpdf(test).mean())


# --------------------------------------------------------------------------- the API


def test_exported_from_the_package():
    assert realnvp.fit_points is fit_points
    assert "fit_points" in realnvp.__all__


def test_detect_resolution():
    rng = np.random.default_rng(0)
    assert detect_resolution(np.round(rng.normal(size=300), 1)) == (0.1, 0.0)
    assert detect_resolution(np.round(rng.normal(size=300) * 5)) == (1.0, 0.0)
    assert detect_resolution(np.round(rng.normal(size=300) * 4) / 4 + 10)[0] == 0.25
    assert detect_resolution(np.round(rng.normal(size=300), 1).astype(np.float32))[0] == 0.1
    assert detect_resolution(rng.normal(size=300)) == (0.0, 0.0)  # continuous
    assert detect_resolution(rng.normal(size=300).astype(np.float32)) == (0.0, 0.0)
    assert detect_resolution(np.arange(300) * 0.5) == (0.0, 0.0)  # on a grid but no value repeats


# --------------------------------------------------------------------------- quality


@pytest.fixture(scope="module")
def mixture_fit():
    x = mixture_sample(400, seed=0)
    return x, fit_points(x, seed=0, max_steps=1000, budget_s=None)


def test_heldout_beats_the_gaussian_and_is_near_the_entropy(mixture_fit):
    x, fit = mixture_fit
    test = mixture_sample(20_000, seed=1)  # a third set: neither the training nor the validation rows
    flow_nll = -float(fit.log_prob(test).mean())
    gauss_nll = gaussian_nll(x, test)  # a full-covariance Gaussian fitted on all 400 rows fit_points was given
    entropy = -float(mixture_log_density(mixture_sample(200_000, seed=2)).mean())  # Monte-Carlo, se ≈ 0.003
    kde_nll = -float(stats.gaussian_kde(x.T).logpdf(test.T).mean())  # Scott's rule, on the same 400 rows
    assert flow_nll <= gauss_nll - 0.4, (flow_nll, gauss_nll)  # the mixture is far from Gaussian (G − H ≈ 0.76)
    # measured: flow − H ≈ 0.19, KDE − H ≈ 0.21 (320 training rows; the other two data seeds gave 0.11 and 0.15)
    assert flow_nll - entropy < 0.25, (flow_nll, entropy)
    assert flow_nll <= kde_nll + 0.01, (flow_nll, kde_nll)
    assert fit.heldout_nll <= fit.gaussian_nll
    # the reported baseline is that Gaussian (of the training rows) on the validation rows
    train, val = x[fit.train_index], x[fit.validation_index]
    assert fit.gaussian_nll == pytest.approx(gaussian_nll(train, val), abs=1e-9)


def test_result_describes_itself(mixture_fit):
    x, fit = mixture_fit
    c = fit.config
    assert sorted(np.concatenate([fit.train_index, fit.validation_index]).tolist()) == list(range(len(x)))
    assert len(fit.validation_index) == 80 and c.n_train == 320
    assert c.batch_size <= c.n_train and c.dequantize == (0.0, 0.0)
    assert c.best_step <= c.steps_run <= c.planned_steps
    assert "cosine" in c.lr_schedule and c.reasons and all(isinstance(r, str) for r in c.reasons)
    assert len(c.candidates) >= 2 and all("best_nll" in r for r in c.candidates)
    assert fit.validation_log_prob.shape == (80,)
    np.testing.assert_allclose(fit.validation_log_prob, fit.log_prob(x[fit.validation_index]))
    assert np.mean(fit.log_prob(x[fit.validation_index]) < fit.threshold(5.0)) == pytest.approx(0.05, abs=0.02)
    assert fit.history.steps[0] == 0 and len(fit.history.steps) == len(fit.history.validation_nll)
    assert "PointsFit(" in repr(fit)
    c.to_dict()  # JSON-able
    assert isinstance(fit, PointsFit)


@pytest.mark.parametrize("h", [1.0, 0.1], ids=["integers", "one-decimal"])
def test_rounded_data_do_not_collapse(h):
    x = grid_sample(400, seed=3, h=h)  # ~10 distinct values per column: heavily tied
    fit = fit_points(x, seed=0, max_steps=500, budget_s=None)
    assert fit.config.dequantize == (h, h)
    assert "de-quantised" in fit.config.evaluation
    val = x[fit.validation_index]
    ideal = dequantised_nll(val, h)  # the de-quantised truth: no model can do better on average
    assert ideal - 0.1 < fit.heldout_nll < ideal + 0.3, (fit.heldout_nll, ideal)
    # collapse shows as far more density on the grid points than between them
    jitter = val + (np.random.default_rng(5).random(val.shape) - 0.5) * h
    on_grid = float(fit.log_prob(val).mean() - fit.log_prob(jitter).mean())
    assert abs(on_grid) < 0.3, on_grid
    assert np.median(np.abs(fit.sample(2000, seed=0, quantize=True) / h % 1.0 - 0.5)) > 0.45  # back on the grid


def test_without_dequantisation_the_same_check_catches_a_collapse():
    """The control: a big flow, no noise, no early stop, on integer rows piles its mass onto the grid points."""
    x = grid_sample(400, seed=3, h=1.0)
    fit = fit_points(
        x, seed=0, max_steps=1500, budget_s=None, dequantize=False, smoothing=[0.0], sizes=[(6, 64)],
        weight_decay=0.0, patience=None,
    )  # fmt: skip
    val = x[fit.validation_index]
    ideal = dequantised_nll(val, 1.0)
    jitter = val + (np.random.default_rng(5).random(val.shape) - 0.5)
    on_grid = float(fit.log_prob(val).mean() - fit.log_prob(jitter).mean())
    # the mass piles on the lattice: far more density on the recorded values than between them, and a validation
    # NLL below what any density of the de-quantised data can reach
    assert on_grid > 3.0 and fit.heldout_nll < ideal - 0.3, (fit.heldout_nll, ideal, on_grid)


def test_returns_the_best_validation_weights_not_the_last():
    x = mixture_sample(60, seed=4)  # a big flow on 48 rows, no brakes: it overfits
    fit = fit_points(
        x, seed=0, max_steps=800, budget_s=None, sizes=[(6, 64)], smoothing=[0.0], weight_decay=0.0,
        patience=None, lr=5e-3, min_gain_se=0.0,
    )  # fmt: skip
    h = fit.history
    best = int(np.argmin(h.validation_nll))
    assert h.steps[best] == fit.config.best_step > 0
    assert fit.config.steps_run == h.steps[-1] > fit.config.best_step
    assert h.validation_nll[-1] > fit.heldout_nll + 0.2  # later weights were clearly worse on validation ...
    assert h.train_nll[-1] < h.train_nll[best]  # ... while the training loss kept falling
    assert fit.heldout_nll == min(h.validation_nll)
    # the returned model is the one that scored the recorded best
    recomputed = -float(fit.log_prob(x[fit.validation_index]).mean())
    assert recomputed == pytest.approx(fit.heldout_nll, abs=1e-5)
    assert any("overfit" in r for r in fit.config.reasons)


def test_falls_back_to_the_gaussian_and_says_so():
    x = mixture_sample(200, seed=5)
    fit = fit_points(x, seed=0, max_steps=50, budget_s=None, min_gain_se=1e6)  # demand the impossible
    assert fit.config.best_step == 0
    assert any("could not beat the full-covariance Gaussian" in w for w in fit.warnings)
    train = x[fit.train_index]
    gauss = stats.multivariate_normal(train.mean(0), np.cov(train.T, bias=True))
    np.testing.assert_allclose(fit.log_prob(x), gauss.logpdf(x), rtol=1e-5, atol=1e-5)  # exactly that Gaussian
    assert fit.heldout_nll == pytest.approx(fit.gaussian_nll, abs=1e-5)


def test_few_rows_warn_and_the_batch_never_exceeds_the_training_rows():
    x = mixture_sample(20, seed=6)
    fit = fit_points(x, seed=0, max_steps=40, budget_s=None, batch_size=512)
    assert fit.config.n_train == 15 and fit.config.batch_size == 15
    assert any("Only 20 rows" in w for w in fit.warnings)
    assert fit.heldout_nll <= fit.gaussian_nll + 1e-6
    with pytest.raises(ValueError, match="at least 10 rows"):
        fit_points(x[:9])
    with pytest.raises(ValueError, match="NaN"):
        fit_points(np.vstack([x, [[np.nan, 1.0]]]))


def test_reproducible_with_a_seed_and_max_steps():
    x = mixture_sample(150, seed=7)
    a = fit_points(x, seed=3, max_steps=120, budget_s=None)
    b = fit_points(x, seed=3, max_steps=120, budget_s=None)
    assert np.array_equal(a.log_prob(x), b.log_prob(x))
    assert a.history.validation_nll == b.history.validation_nll and a.config.best_step == b.config.best_step
    np.testing.assert_array_equal(a.validation_index, b.validation_index)
    c = fit_points(x, seed=4, max_steps=120, budget_s=None)
    assert not np.array_equal(a.validation_index, c.validation_index)


def test_progress_reports_and_can_stop():
    x = mixture_sample(200, seed=8)
    seen = []

    def stop_soon(info):
        seen.append(info)
        return len(seen) < 3

    fit = fit_points(x, seed=0, max_steps=100_000, budget_s=None, on_progress=stop_soon, progress_every_s=0.0)
    assert len(seen) == 3 and fit.config.stopped == "stopped by the caller"
    assert {"step", "train_nll", "validation_nll", "elapsed_s"} <= set(seen[0])
    assert fit.config.steps_run < 1000 and len(fit.config.candidates) == 1
    assert fit.heldout_nll <= fit.gaussian_nll + 1e-6


def test_budget_limits_the_time():
    x = mixture_sample(300, seed=9)
    fit = fit_points(x, seed=0, budget_s=1.0, max_steps=1_000_000, patience=None)
    assert fit.config.seconds < 3.0
    assert "time budget" in " ".join(r["stopped"] for r in fit.config.candidates)


def test_log_prob_is_in_original_units():
    x = mixture_sample(200, seed=10)
    a = fit_points(x, seed=0, max_steps=100, budget_s=None)
    b = fit_points(x * 1000.0, seed=0, max_steps=100, budget_s=None)
    np.testing.assert_allclose(b.log_prob(x * 1000.0), a.log_prob(x) - 2 * math.log(1000.0), atol=2e-3)
    assert b.heldout_nll == pytest.approx(a.heldout_nll + 2 * math.log(1000.0), abs=2e-3)
    # densities integrate to one over the plane in those units (a grid sum over a wide box)
    xs, ys = np.linspace(-8, 9, 300), np.linspace(-6, 9, 300)
    gx, gy = np.meshgrid(xs, ys)
    mass = np.exp(a.log_prob(np.stack([gx.ravel(), gy.ravel()], 1))).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert mass == pytest.approx(1.0, abs=0.02)


def test_save_loads_and_the_cli_samples_in_original_units(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.multivariate_normal([1000.0, -3.0], [[2500.0, 30.0], [30.0, 1.0]], size=300)
    x = np.round(x * [1.0, 10.0]) / [1.0, 10.0]  # integers and one decimal
    fit = fit_points(x, seed=0, max_steps=60, budget_s=None)
    assert fit.config.dequantize == (1.0, 0.1)
    path = fit.save(tmp_path / "table.safetensors")
    model, meta = load_flow(path)
    std = standardizer_from_meta(meta)
    assert std.matrix is not None and meta["extra"]["fit_points"]["config"]["dequantize"] == [1.0, 0.1]
    y = torch.as_tensor(std.transform(x[:50]), dtype=torch.float32)
    with torch.no_grad():
        loaded = model.log_prob(y).double().numpy() + std.log_abs_det
    np.testing.assert_allclose(loaded, fit.log_prob(x[:50]), rtol=1e-6, atol=1e-6)
    out = tmp_path / "out.csv"
    result = subprocess.run(
        [sys.executable, "-m", "realnvp", "sample", str(path), "-n", "500", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    samples = np.loadtxt(out, delimiter=",", skiprows=1)
    assert samples.shape == (500, 2)
    assert np.all(np.abs(samples.mean(0) - x.mean(0)) < [15.0, 0.3])  # original units, not whitened
    np.testing.assert_allclose(samples.std(0), x.std(0), rtol=0.2)


@pytest.mark.slow
def test_moons_reach_the_true_entropy():
    x = datasets.make_points("moons", n=5000, noise=0.1, seed=0)
    fit = fit_points(x, seed=0, budget_s=60.0)
    test = datasets.make_points("moons", n=20_000, noise=0.1, seed=1)
    nll = -float(fit.log_prob(test).mean())
    assert nll - datasets.true_entropy("moons", 0.1) < 0.05, (nll, fit.config.to_dict())
