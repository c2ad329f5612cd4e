"""Fit a flow to a small 2-D table without misleading anyone: :func:`fit_points` returns a :class:`PointsFit`.

A user's table has a few hundred rows, values recorded to one decimal or as integers, and columns in different
units. A default 8×64 flow with batch 512 memorises such a table. :func:`fit_points` instead

1. splits the rows (seeded) into training and validation rows;
2. **whitens** with the training mean and full covariance (a fixed affine map with an exact log-det,
   :meth:`realnvp.datasets.Standardizer.whitening`). Every coupling's last layer starts at zero, so at step 0
   the model *is* the full-covariance Gaussian of the training rows, and the Gaussian is always a candidate;
3. detects a **recorded resolution** per column (:func:`detect_resolution`: every value an integer multiple of a
   step ``h`` from a common origin, with repeated values) and **dequantises**: each training batch gets fresh
   ``U(-h/2, h/2)`` noise, so the flow cannot pile its mass onto the grid. The density it learns (and every NLL it
   reports) is then the density of the de-quantised data; validation rows are scored with a few fixed jitter draws;
4. scales **capacity and batch to the data**: fewer, narrower couplings and stronger weight decay (AdamW, which
   pulls the flow towards the identity, i.e. the Gaussian) for fewer rows, batch at most the training rows, and
   **smoothing**: Gaussian noise on every batch of a fraction of Scott's KDE bandwidth, a KDE-like regulariser that
   also gives the density tails. Up to four candidates (two sizes × two smoothing levels; one flow without
   smoothing from 2,000 training rows up) train with a **cosine learning-rate decay** over their planned steps and
   **early stopping that keeps the best validation weights** (the returned weights are those of the best
   validation step, never the last ones). The kept candidate is the simplest one within one paired standard error
   of the lowest validation NLL (the "one-standard-error rule": on ~30 validation rows, smaller differences are
   noise). If no step beat step 0, the returned model is the step-0 model, i.e. exactly the Gaussian;
5. says what it chose and why (:attr:`PointsFit.config`) and what to be careful about (:attr:`PointsFit.warnings`).

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(200, 2)).round(1)
>>> fit = fit_points(x, max_steps=20, budget_s=None)
>>> fit.config.dequantize, fit.heldout_nll <= fit.gaussian_nll + 1e-6
((0.1, 0.1), True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from realnvp.datasets import Standardizer
from realnvp.flow import FlowConfig, RealNVP
from realnvp.training.engine import OptimConfig, Trainer

__all__ = ["fit_points", "PointsFit", "FitConfig", "FitHistory", "detect_resolution", "MIN_ROWS"]

MIN_ROWS = 10
"""The fewest rows :func:`fit_points` accepts (the upload loader's minimum too)."""

FEW_ROWS = 50
"""Below this many rows the result carries a warning: too few to say much about the shape of a density."""

_LR = 3e-3
_MIN_LR_RATIO = 0.02


# --------------------------------------------------------------------------- recorded resolution


def _nice_step(h: float) -> float:
    """Snap ``h`` to 1, 2, 2.5 or 5 × 10^k when it is within float noise of one (0.0999999 → 0.1)."""
    e = 10.0 ** math.floor(math.log10(h))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if abs(h - m * e) <= 1e-5 * h:
            return float(f"{m * e:.12g}")
    return h


def detect_resolution(values: Any, max_distinct_fraction: float = 0.9) -> tuple[float, float]:
    """The grid ``(h, origin)`` a column's values were recorded on, or ``(0.0, 0.0)`` when there is none.

    A column is on a grid when every value is ``origin + k·h`` for integers ``k`` (to float tolerance: 1e-3·h, or
    float32 rounding of the largest value) and values repeat (at most ``max_distinct_fraction`` of the rows are
    distinct: without ties there is nothing for a flow to collapse onto). ``h`` is the smallest gap between distinct
    values or a divisor of it (/2, /3, /4, /5, /10), snapped to 1, 2, 2.5 or 5 × 10^k when within float noise.

    >>> detect_resolution(np.array([1.2, 1.5, 1.2, 0.9, 1.3, 1.3, 1.5, 2.0, 1.2, 0.9], dtype=np.float32))
    (0.1, 0.0)
    >>> detect_resolution([0.5, 1.5, 2.5, 0.5, 1.5, 3.5, 0.5, 2.5, 1.5, 4.5])
    (1.0, 0.5)
    >>> detect_resolution(np.random.default_rng(0).normal(size=100))
    (0.0, 0.0)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) < MIN_ROWS:
        return 0.0, 0.0
    u = np.unique(v)
    if len(u) < 2 or len(u) > max_distinct_fraction * len(v):
        return 0.0, 0.0
    gaps = np.diff(u)
    h0 = float(gaps.min())
    magnitude = float(np.abs(u).max())
    for divisor in (1, 2, 3, 4, 5, 10):
        h = h0 / divisor
        tol = max(1e-3 * h, 4e-7 * magnitude)  # values may have been recorded in float32
        if tol > 0.05 * h:
            break
        k = gaps / h
        if np.all(np.abs(k - np.round(k)) * h <= tol):
            h = _nice_step(h)
            origin = float(u[0] - h * np.round(u[0] / h))
            if abs(origin) <= tol or abs(abs(origin) - h) <= tol:
                origin = 0.0
            return h, float(f"{origin:.12g}")
    return 0.0, 0.0


# --------------------------------------------------------------------------- what the fit chose


@dataclass
class FitConfig:
    """What :func:`fit_points` chose, and (in :attr:`reasons`) why, in words. All NLLs in nats, original units."""

    n_rows: int
    n_train: int
    n_validation: int
    seed: int
    layers: int
    hidden: tuple[int, ...]
    smoothing: float
    """Std (whitened units) of the Gaussian noise added to every training batch (0: none)."""
    batch_size: int
    optimizer: str
    weight_decay: float
    lr: float
    lr_schedule: str
    planned_steps: int
    eval_every: int
    patience: int | None
    dequantize: tuple[float, ...]
    """Per column: the width ``h`` of the uniform noise added to every training batch (0.0: none)."""
    grid_origin: tuple[float, ...]
    evaluation: str
    """What the validation NLLs are NLLs *of* (the raw rows, or the de-quantised rows)."""
    whitening: str
    steps_run: int = 0
    best_step: int = 0
    stopped: str = ""
    seconds: float = 0.0
    train_nll_at_best: float = math.nan
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["dequantize"] = list(self.dequantize)
        d["grid_origin"] = list(self.grid_origin)
        return _json_safe(d)


@dataclass
class FitHistory:
    """The chosen candidate's run: at each evaluation, the step, the mean training loss since the previous one
    (on de-quantised batches when dequantising; step 0: the training rows) and the validation NLL."""

    steps: list[int] = field(default_factory=list)
    train_nll: list[float] = field(default_factory=list)
    validation_nll: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------- the result


class PointsFit:
    """A flow fitted by :func:`fit_points`: densities and samples in the data's original units, plus its story.

    - :meth:`log_prob` — natural-log density of each row (numpy in, numpy out, original units);
    - :meth:`sample` — new rows in original units (continuous; ``quantize=True`` rounds to the recorded grid);
    - :attr:`model` (the :class:`~realnvp.flow.RealNVP`, in whitened space) and :attr:`standardizer` (the whitening);
    - :attr:`heldout_nll` — the best validation NLL (the returned weights'), :attr:`gaussian_nll` — the
      full-covariance Gaussian of the training rows on the same validation rows (same footing);
    - :attr:`config` (:class:`FitConfig`, with ``.reasons``), :attr:`history` (:class:`FitHistory`),
      :attr:`warnings`, :attr:`train_index` / :attr:`validation_index` (row indices into the input);
    - :attr:`validation_log_prob` — ``log p`` of the validation rows, for a calibrated anomaly threshold
      (:meth:`threshold`: flag rows below the q-th percentile of it);
    - :meth:`save` — one ``.safetensors`` file that ``python -m realnvp sample PATH`` reads.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal([10.0, 500.0], [2.0, 80.0], size=(150, 2))
    >>> fit = fit_points(x, max_steps=20, budget_s=None)
    >>> fit.log_prob(x[:3]).shape, fit.sample(4, seed=0).shape, len(fit.validation_index)
    ((3,), (4, 2), 30)
    >>> fit.config.batch_size <= fit.config.n_train, fit.heldout_nll <= fit.gaussian_nll + 1e-6
    (True, True)
    """

    def __init__(
        self,
        model: RealNVP,
        standardizer: Standardizer,
        config: FitConfig,
        *,
        heldout_nll: float,
        gaussian_nll: float,
        history: FitHistory,
        warnings: list[str],
        train_index: np.ndarray,
        validation_index: np.ndarray,
        validation_log_prob: np.ndarray,
    ):
        self.model = model
        self.standardizer = standardizer
        self.config = config
        self.heldout_nll = float(heldout_nll)
        self.gaussian_nll = float(gaussian_nll)
        self.history = history
        self.warnings = list(warnings)
        self.train_index = train_index
        self.validation_index = validation_index
        self.validation_log_prob = validation_log_prob

    def __repr__(self) -> str:
        c = self.config
        return (
            f"PointsFit({c.n_rows} rows, {c.layers}×{list(c.hidden)} flow, best step {c.best_step}/{c.steps_run}, "
            f"validation NLL {self.heldout_nll:.4f} vs Gaussian {self.gaussian_nll:.4f}, "
            f"{len(self.warnings)} warning(s))"
        )

    @torch.no_grad()
    def log_prob(self, points: Any) -> np.ndarray:
        """``log p(x)`` (nats, the data's original units) of each row of ``points`` (m, d); NaN for non-finite rows.

        When the fit dequantised (``config.dequantize``), this is the density of the de-quantised data.
        """
        x = np.asarray(points, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.model.dim:
            raise ValueError(f"points must have shape (m, {self.model.dim}), got {np.shape(points)}")
        out = np.full(len(x), np.nan)
        ok = np.isfinite(x).all(axis=1)
        if ok.any():
            self.model.eval()
            device = self.model.index_a.device
            y = torch.as_tensor(self.standardizer.transform(x[ok]), dtype=torch.float32, device=device)
            lp = torch.cat([self.model.log_prob(chunk) for chunk in torch.split(y, 65536)])
            out[ok] = lp.double().cpu().numpy() + self.standardizer.log_abs_det
        return out

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = 0, quantize: bool = False) -> np.ndarray:
        """``n`` rows drawn from the fitted density, in original units (``seed=None``: unseeded).

        ``quantize=True`` rounds every column with a recorded resolution back onto its grid (like the data).
        """
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.model.eval()
        z = self.model.sample(int(n), generator=generator).double().cpu().numpy()
        x = self.standardizer.inverse(z)
        if quantize:
            for j, (h, origin) in enumerate(zip(self.config.dequantize, self.config.grid_origin, strict=True)):
                if h > 0:
                    x[:, j] = np.round((x[:, j] - origin) / h) * h + origin
        return x

    def threshold(self, q: float = 1.0) -> float:
        """The ``q``-th percentile of :attr:`validation_log_prob`: rows with ``log_prob`` below it are unusual
        (about q % of new rows from the same source fall below it)."""
        return float(np.percentile(self.validation_log_prob, q))

    def save(self, path: str | Path) -> Path:
        """Write one ``.safetensors`` file (weights + JSON metadata, no pickle): the flow, the whitening and what
        the fit chose. ``python -m realnvp sample PATH -n 100 -o out.csv`` samples it in original units;
        :func:`realnvp.checkpoint.load_flow` loads it."""
        from realnvp.checkpoint import flow_to_bytes

        path = Path(path)
        extra = {
            "fit_points": {
                "config": self.config.to_dict(),
                "heldout_nll": _json_safe(self.heldout_nll),
                "gaussian_nll": _json_safe(self.gaussian_nll),
                "warnings": list(self.warnings),
            }
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(flow_to_bytes(self.model, self.standardizer, extra=extra))
        return path


# --------------------------------------------------------------------------- choices by size


def _sizes(n_train: int) -> tuple[list[tuple[int, int]], list[float]]:
    """Candidate (couplings, hidden width) pairs for ``n_train`` training rows, smallest first, and the candidate
    smoothing levels (multiples of Scott's factor ``n_train^(-1/6)``, the bandwidth a Gaussian KDE would use)."""
    if n_train < FEW_ROWS:
        return [(2, 16)], [1.0, 2.0]
    if n_train < 150:
        return [(2, 16), (4, 16)], [0.5, 1.0]
    if n_train < 600:
        return [(4, 16), (4, 32)], [0.5, 1.0]
    if n_train < 2000:
        return [(4, 32), (6, 64)], [0.5, 1.0]
    return [(8, 64)], [0.0]  # enough rows: one flow, the whole budget, no smoothing


def _weight_decay(n_train: int) -> float:
    """Decoupled (AdamW) weight decay: it pulls every weight, and so each coupling's zero-initialised last layer,
    towards zero, i.e. the flow towards the identity = the Gaussian. Stronger for fewer rows."""
    return float(min(0.5, 100.0 / n_train)) if n_train < 20_000 else 0.0


def _batch(n_train: int) -> int:
    return int(min(n_train, max(32, min(256, n_train // 4))))


def _planned_steps(n_train: int) -> int:
    """Steps of the cosine schedule: ~100·sqrt(n) (early stopping usually ends small tables sooner); 1.5× that from
    2,000 training rows up, where one flow gets the whole budget."""
    factor = 150 if n_train >= 2000 else 100
    return int(np.clip(round(factor * math.sqrt(n_train), -2), 1000, 15_000))


# --------------------------------------------------------------------------- the fit


class _FitTrainer(Trainer):
    """A :class:`Trainer` that also adds N(0, smooth²) noise (whitened units) to every training batch."""

    smooth: float = 0.0

    def _next_batch(self):
        x = super()._next_batch()
        if self.smooth > 0:
            x = x + self.smooth * torch.randn(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
        return x


def _gauss_log_prob(y: np.ndarray) -> np.ndarray:
    return -0.5 * (y**2).sum(axis=1) - 0.5 * y.shape[1] * math.log(2 * math.pi)


def _mean_se(values: np.ndarray, n_rows: int) -> tuple[float, float]:
    """Mean and standard error of per-row values, the jitter copies of a row (tiled blocks) averaged first."""
    per_row = np.asarray(values, dtype=np.float64).reshape(-1, n_rows).mean(axis=0)
    se = float(per_row.std(ddof=1) / math.sqrt(n_rows)) if n_rows > 1 else math.inf
    return float(per_row.mean()), se


def _check_points(points: Any) -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"points must be a 2-D array (n, d) with d >= 2 columns, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"{len(bad)} row(s) hold NaN or infinite values (first: row {int(bad[0])}); drop them first")
    if len(x) < MIN_ROWS:
        raise ValueError(f"fit_points needs at least {MIN_ROWS} rows, got {len(x)}")
    return x


def _widths(dequantize: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    d = x.shape[1]
    if isinstance(dequantize, str):
        if dequantize != "auto":
            raise ValueError(f"dequantize must be 'auto', False/None, or per-column widths, got {dequantize!r}")
        found = [detect_resolution(x[:, j]) for j in range(d)]
        widths = np.array([h for h, _ in found])
        origins = np.array([o for _, o in found])
        return widths, origins, "detected"
    if dequantize is None or dequantize is False:
        return np.zeros(d), np.zeros(d), "off"
    widths = np.broadcast_to(np.asarray(dequantize, dtype=np.float64), (d,)).copy()
    if not (np.isfinite(widths).all() and (widths >= 0).all()):
        raise ValueError(f"dequantize widths must be finite and >= 0, got {dequantize!r}")
    return widths, np.zeros(d), "given"


def fit_points(
    points: Any,
    *,
    seed: int = 0,
    budget_s: float | None = 20.0,
    max_steps: int | None = None,
    validation_fraction: float = 0.2,
    dequantize: Any = "auto",
    device: str | torch.device = "cpu",
    on_progress: Callable[[dict[str, Any]], Any] | None = None,
    sizes: Sequence[tuple[int, int]] | None = None,
    smoothing: Sequence[float] | None = None,
    min_gain_se: float = 0.0,
    select: str = "one_se",
    batch_size: int | None = None,
    weight_decay: float | None = None,
    lr: float = _LR,
    patience: int | None | str = "auto",
    eval_every: int | None = None,
    jitter_draws: int = 4,
    progress_every_s: float = 0.25,
) -> PointsFit:
    """Fit a RealNVP flow to the rows of ``points`` (n, d ≥ 2) so that it never does worse than a Gaussian.

    ``seed`` fixes the split, the weights, the batches and the noise; with ``max_steps`` set and ``budget_s=None``
    the result is exactly reproducible (``budget_s`` only ever *shortens* a run, by shrinking the planned steps of
    the cosine schedule once the speed is known, so a budget that is not reached changes nothing).
    ``max_steps`` caps the planned steps *per candidate* (default: by size, 1,000–15,000).
    ``validation_fraction`` of the rows (at least 5, leaving at least 5 to train on) choose the step and the size.
    ``dequantize``: ``"auto"`` (:func:`detect_resolution` per column), ``False``/``None``, or widths per column.
    ``on_progress(info)`` is called about every ``progress_every_s`` seconds with a dict (``step``,
    ``planned_steps``, ``candidate``, ``candidates``, ``layers``, ``hidden``, ``train_nll``, ``validation_nll``,
    ``best_validation_nll``, ``gaussian_nll``, ``elapsed_s``); returning ``False`` stops the fit (the best weights
    so far are kept). ``device`` trains there (the returned model lives on the CPU).

    Expert overrides (defaults chosen by the number of training rows): ``sizes`` [(couplings, width), ...],
    ``smoothing`` (factors of Scott's factor ``n_train^(-1/6)``: the std of the batch noise in whitened units),
    ``select`` (``"one_se"``, or ``"best"``: the lowest validation NLL), ``min_gain_se`` (keep the flow only if it
    beats the Gaussian on validation by this many paired standard errors; default 0: any gain), ``batch_size``,
    ``weight_decay``, ``lr``, ``patience`` (steps without a validation improvement before a candidate stops;
    ``None``: never), ``eval_every`` (steps between validation evaluations), ``jitter_draws`` (dequantisation
    draws per validation row), ``progress_every_s``.
    """
    t_start = time.perf_counter()
    if select not in ("one_se", "best"):
        raise ValueError(f"select must be 'one_se' or 'best', got {select!r}")
    x = _check_points(points)
    n, d = x.shape
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    if max_steps is not None and int(max_steps) < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
    if budget_s is not None and not budget_s > 0:
        raise ValueError(f"budget_s must be > 0 seconds or None, got {budget_s!r}")
    reasons: list[str] = []
    warnings: list[str] = []

    # -- split ----------------------------------------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = int(min(max(round(validation_fraction * n), 5), n - 5))
    validation_index = np.sort(perm[:n_val])
    train_index = np.sort(perm[n_val:])
    train, val = x[train_index], x[validation_index]
    n_train = len(train)
    reasons.append(
        f"Split the {n} rows (seed {seed}) into {n_train} training and {n_val} validation rows; the validation rows "
        "choose the stopping step and the flow's size and are never trained on."
    )

    # -- recorded resolution --------------------------------------------------------------------------------------
    widths, origins, how = _widths(dequantize, x)
    dequantising = bool((widths > 0).any())
    if dequantising:
        cols = ", ".join(f"column {j}: {w:g}" for j, w in enumerate(widths) if w > 0)
        reasons.append(
            f"Dequantisation ({how}) — values sit on a grid ({cols}): every training batch gets fresh uniform noise "
            "of that width, so the flow cannot collapse onto the grid; its density is that of the de-quantised data."
        )
        evaluation = (
            f"NLLs are of the de-quantised data: each validation row plus U(-h/2, h/2) noise, averaged over "
            f"{jitter_draws} fixed draws (h per column: {[float(w) for w in widths]})."
        )
    else:
        if how == "detected":
            reasons.append("No column sits on a recording grid with repeated values: no dequantisation.")
        evaluation = "NLLs are of the raw validation rows."
    jitter_rng = np.random.default_rng([seed, 1])

    def jittered(rows: np.ndarray, draws: int) -> np.ndarray:
        if not dequantising:
            return rows
        rep = np.tile(rows, (draws, 1))
        return rep + (jitter_rng.random(rep.shape) - 0.5) * widths

    val_eval = jittered(val, max(int(jitter_draws), 1))
    train_eval = jittered(train, 1)

    # -- whitening: the full-covariance Gaussian of the (de-quantised) training rows -------------------------------
    mean = train.mean(axis=0)
    centred = train - mean
    cov = centred.T @ centred / n_train + np.diag(widths**2 / 12.0)
    try:
        standardizer = Standardizer.whitening(mean, cov)
    except ValueError as err:
        raise ValueError(f"cannot fit these rows: {err}") from None
    reasons.append(
        "Whitened with the training rows' mean and full covariance"
        + (" (plus the dequantisation noise's variance h²/12)" if dequantising else "")
        + ": the flow starts as the identity, so at step 0 the model is that full-covariance Gaussian."
    )
    whitening = "y = ((x - mean) / sd) @ R^(-1/2): training mean and covariance, R the correlation matrix"
    log_det = standardizer.log_abs_det
    gauss_val = _gauss_log_prob(standardizer.transform(val_eval)) + log_det
    gaussian_nll = -float(gauss_val.mean())

    # -- sizes, batch, decay, schedule ------------------------------------------------------------------------------
    default_sizes, default_smoothing = _sizes(n_train)
    size_list = [tuple(map(int, s)) for s in sizes] if sizes is not None else default_sizes
    if not size_list or any(c < 1 or w < 1 for c, w in size_list):
        raise ValueError(f"sizes must be one or more (couplings, width) pairs of positive integers, got {sizes!r}")
    factors = [float(f) for f in (smoothing if smoothing is not None else default_smoothing)]
    if not factors or any(not (math.isfinite(f) and f >= 0) for f in factors):
        raise ValueError(f"smoothing must be one or more factors >= 0, got {smoothing!r}")
    scott = n_train ** (-1.0 / (d + 4))
    size_list = [(c, w, f * scott) for c, w in size_list for f in factors]
    batch = int(min(batch_size or _batch(n_train), n_train))
    wd = float(_weight_decay(n_train) if weight_decay is None else weight_decay)
    planned = int(max_steps) if max_steps is not None else _planned_steps(n_train)
    every = int(eval_every or int(np.clip(planned // 100, 10, 50)))
    if patience == "auto":
        patience_steps: int | None = int(max(300, 0.25 * planned))
    else:
        patience_steps = None if patience is None else int(patience)
    sizes_text = ", ".join(dict.fromkeys(f"{c}×{w}" for c, w, _ in size_list))
    smooth_text = ", ".join(f"{f:g}" for f in factors)
    reasons.append(
        f"{n_train} training rows: candidate sizes {sizes_text} (couplings × hidden width, two hidden layers each), "
        f"each with Gaussian smoothing noise of {smooth_text} × Scott's factor {scott:.3f} (whitened units: a "
        "KDE-like regulariser, 0 = none) on every batch; "
        f"batch {batch} (≤ the {n_train} training rows), "
        f"{'AdamW weight decay ' + format(wd, 'g') + ' (pulls the flow towards the Gaussian)' if wd else 'Adam'}, "
        f"learning rate {lr:g} with a cosine decay to {_MIN_LR_RATIO:g}× over {planned} planned steps; validation "
        f"every {every} steps"
        + (f", stopping after {patience_steps} steps without improvement." if patience_steps else ".")
    )

    # -- train each candidate -------------------------------------------------------------------------------------
    results: list[dict[str, Any]] = []
    stop_all = False
    last_report = -math.inf
    for index, (n_layers, width, smooth) in enumerate(size_list):
        if stop_all:
            break
        if budget_s is not None:
            left = budget_s - (time.perf_counter() - t_start)
            if left <= 0 and results:
                reasons.append(f"The time budget ran out before candidate {n_layers}×{width}.")
                break
            share = max(left, 0.0) / (len(size_list) - index)
        else:
            share = math.inf
        flow = FlowConfig(dim=d, n_layers=n_layers, hidden_dims=(width, width))
        optim = OptimConfig(
            optimizer="adamw" if wd > 0 else "adam",
            lr=lr,
            batch_size=batch,
            weight_decay=wd,
            schedule="cosine",
            total_steps=planned,
            min_lr_ratio=_MIN_LR_RATIO,
        )
        trainer = _FitTrainer(
            train,
            val_eval,
            flow,
            optim,
            seed=seed,
            device=device,
            standardizer=standardizer,
            dequantize=widths if dequantising else None,
            name="fit_points",
        )
        trainer.smooth = smooth
        t_cand = time.perf_counter()
        hist = FitHistory()
        v0 = trainer.evaluate()
        trainer.model.eval()
        with torch.no_grad():
            y_train = torch.as_tensor(standardizer.transform(train_eval), dtype=torch.float32, device=trainer.device)
            tr0 = -float(trainer.model.log_prob(y_train).double().mean()) - log_det
        trainer.model.train()
        hist.steps.append(0)
        hist.train_nll.append(tr0)
        hist.validation_nll.append(v0)
        best_v, best_step, best_param = v0, 0, trainer.flat.param.detach().clone()
        init_param = best_param.clone()
        total = planned
        stopped = f"ran the {planned} planned steps"
        while trainer.step_count < total:
            kept = trainer.step(min(every, total - trainer.step_count))
            v = trainer.evaluate()
            tr = float(np.mean(trainer.history.train_nll[-kept:])) if kept else math.nan
            hist.steps.append(trainer.step_count)
            hist.train_nll.append(tr)
            hist.validation_nll.append(v)
            if v < best_v:
                best_v, best_step = v, trainer.step_count
                best_param.copy_(trainer.flat.param.detach())
            elapsed_cand = time.perf_counter() - t_cand
            if math.isfinite(share) and trainer.step_count > 0 and elapsed_cand > 0.1 * share:
                affordable = int(share / elapsed_cand * trainer.step_count)
                if affordable < total:  # shrink the cosine schedule to what the budget allows
                    total = max(trainer.step_count, affordable)
                    trainer.optim = replace(trainer.optim, total_steps=total)
                    stopped = f"the time budget allowed {total} of the {planned} planned steps"
            now = time.perf_counter()
            if on_progress is not None and now - last_report >= progress_every_s:
                last_report = now
                info = {
                    "step": trainer.step_count,
                    "planned_steps": total,
                    "candidate": index,
                    "candidates": len(size_list),
                    "layers": n_layers,
                    "hidden": width,
                    "train_nll": tr,
                    "validation_nll": v,
                    "best_validation_nll": min(best_v, *(r["best_nll"] for r in results)) if results else best_v,
                    "gaussian_nll": gaussian_nll,
                    "elapsed_s": now - t_start,
                }
                if on_progress(info) is False:
                    stop_all = True
                    stopped = "stopped by the caller"
                    break
            if patience_steps is not None and trainer.step_count - best_step >= patience_steps:
                stopped = f"no validation improvement for {patience_steps} steps"
                break
        with torch.no_grad():
            trainer.flat.param.copy_(best_param)
        trainer.model.eval()
        with torch.no_grad():
            y_val = torch.as_tensor(standardizer.transform(val_eval), dtype=torch.float32, device=trainer.device)
            row_lp = trainer.model.log_prob(y_val).double().cpu().numpy() + log_det
        hist.events.extend(trainer.history.events)
        results.append(
            {
                "layers": n_layers,
                "hidden": width,
                "smooth": smooth,
                "best_nll": best_v,
                "best_step": best_step,
                "steps_run": trainer.step_count,
                "planned_steps": total,
                "stopped": stopped,
                "seconds": time.perf_counter() - t_cand,
                "trainer": trainer,
                "history": hist,
                "init": init_param,
                "v0": v0,
                "row_lp": row_lp.reshape(-1, n_val).mean(axis=0),
                "params": int(trainer.flat.param.numel()),
            }
        )

    # -- choose ---------------------------------------------------------------------------------------------------
    lowest = min(results, key=lambda r: (r["best_nll"], results.index(r)))
    chosen = lowest
    if select == "one_se" and len(results) > 1:
        # the simplest candidate within one paired standard error of the lowest: fewest weights, then most smoothing
        within = []
        for r in results:
            diff = lowest["row_lp"] - r["row_lp"]
            se = float(diff.std(ddof=1) / math.sqrt(n_val)) if n_val > 1 else 0.0
            if r["best_nll"] - lowest["best_nll"] <= se:
                within.append(r)
        chosen = min(within, key=lambda r: (r["params"], -r["smooth"], results.index(r)))
    trainer = chosen["trainer"]
    chosen_step, chosen_nll = int(chosen["best_step"]), float(chosen["best_nll"])
    if len(results) > 1:
        listing = "; ".join(
            f"{r['layers']}×{r['hidden']} smoothing {r['smooth']:.2f}: {r['best_nll']:.4f} at step "
            f"{r['best_step']}/{r['steps_run']}"
            for r in results
        )
        why = (
            "the lowest validation NLL"
            if chosen is lowest
            else "the simplest candidate (fewest weights, then most smoothing) whose validation NLL is within one "
            "paired standard error of the lowest — a difference that small is noise on this many validation rows"
        )
        reasons.append(
            f"Kept {chosen['layers']}×{chosen['hidden']} with smoothing {chosen['smooth']:.2f}, {why} ({listing})."
        )
    reasons.append(
        f"The run {chosen['stopped']}; returned the weights of step {chosen_step} (best validation NLL), "
        f"not those of the last step {chosen['steps_run']}."
    )
    trainer.model.eval()
    with torch.no_grad():
        y_val = torch.as_tensor(standardizer.transform(val_eval), dtype=torch.float32, device=trainer.device)
        flow_val = trainer.model.log_prob(y_val).double().cpu().numpy() + log_det
    gain, se_gain = _mean_se(flow_val - gauss_val, n_val)
    kept_gaussian = ""
    if chosen_step == 0:
        kept_gaussian = "no training step improved on it"
    elif gain < min_gain_se * se_gain:
        kept_gaussian = (
            f"its gain, {gain:.3f} ± {se_gain:.3f} nats per row, is below the required {min_gain_se:g} standard "
            "error(s)"
        )
        with torch.no_grad():
            trainer.flat.param.copy_(chosen["init"])
        chosen_step, chosen_nll = 0, float(chosen["v0"])
    model = trainer.model.to("cpu").eval()
    for param in model.parameters():
        param.requires_grad_(False)

    fit_config = FitConfig(
        n_rows=n,
        n_train=n_train,
        n_validation=n_val,
        seed=int(seed),
        layers=int(chosen["layers"]),
        hidden=(int(chosen["hidden"]), int(chosen["hidden"])),
        smoothing=float(chosen["smooth"]),
        batch_size=batch,
        optimizer="adamw" if wd > 0 else "adam",
        weight_decay=wd,
        lr=float(lr),
        lr_schedule=f"cosine from {lr:g} to {lr * _MIN_LR_RATIO:g} over {chosen['planned_steps']} steps",
        planned_steps=int(chosen["planned_steps"]),
        eval_every=every,
        patience=patience_steps,
        dequantize=tuple(float(w) for w in widths),
        grid_origin=tuple(float(o) for o in origins),
        evaluation=evaluation,
        whitening=whitening,
        steps_run=int(chosen["steps_run"]),
        best_step=chosen_step,
        stopped=chosen["stopped"],
        candidates=[
            {k: v for k, v in r.items() if k not in ("trainer", "history", "init", "v0", "row_lp")} for r in results
        ],
        reasons=reasons,
    )
    fit = PointsFit(
        model,
        standardizer,
        fit_config,
        heldout_nll=chosen_nll,
        gaussian_nll=gaussian_nll,
        history=chosen["history"],
        warnings=warnings,
        train_index=train_index,
        validation_index=validation_index,
        validation_log_prob=np.zeros(0),
    )
    fit.validation_log_prob = fit.log_prob(val)
    fit_config.train_nll_at_best = -float(fit.log_prob(train_eval).mean())

    # -- warnings -------------------------------------------------------------------------------------------------
    se_val = _mean_se(fit.log_prob(val_eval), n_val)[1]
    if n < FEW_ROWS:
        warnings.append(
            f"Only {n} rows ({n_train} to train on, {n_val} to validate): too few to say much about the shape of the "
            f"density; even the validation NLL is uncertain by about ±{se_val:.2f} nats. Treat the result as a sketch."
        )
    if kept_gaussian:
        warnings.append(
            f"The flow could not beat the full-covariance Gaussian on the validation rows (Gaussian NLL "
            f"{gaussian_nll:.4f} nats; {kept_gaussian}): the returned model is the flow at step 0, which is exactly "
            "that Gaussian."
        )
    elif gain < 2 * se_gain:
        warnings.append(
            f"The flow beats the Gaussian on the validation rows by only {gain:.3f} ± {se_gain:.3f} nats per row: "
            "not clearly better than a Gaussian."
        )
    gap = chosen_nll - fit_config.train_nll_at_best
    if chosen_step > 0 and gap > max(0.15, 2 * se_val):
        warnings.append(
            f"Overfitting: at the best step the validation NLL ({chosen_nll:.3f}) is {gap:.3f} nats above the "
            f"training NLL ({fit_config.train_nll_at_best:.3f}): the density fits these rows more tightly than it "
            "will fit new ones."
        )
    h = chosen["history"]
    best_step = int(chosen["best_step"])
    later = [v for s, v in zip(h.steps, h.validation_nll, strict=True) if s > best_step]
    if later and math.isfinite(later[-1]) and later[-1] - float(chosen["best_nll"]) > 0.05:
        reasons.append(
            f"After step {best_step} the validation NLL rose to {later[-1]:.3f} by step {h.steps[-1]} (training "
            f"NLL {h.train_nll[-1]:.3f}): the flow had begun to overfit; those later weights were discarded."
        )
    for event in h.events:
        warnings.append(f"Numerical trouble during training: {event}")
    fit.warnings = warnings
    fit_config.seconds = time.perf_counter() - t_start
    return fit
