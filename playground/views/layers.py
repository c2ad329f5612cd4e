"""Layer-by-layer analysis of a vector :class:`~realnvp.flow.RealNVP`: everything the "Layer by layer" page draws.

Every quantity here is exact, read off the flow itself, so it can be checked against ``forward``/``inverse``:

- :func:`animation_frames` — every layer's intermediate points (plus a carried grid of lines) with linear
  in-between frames, in the density (data → latent) or sampling (latent → data) direction.
- :func:`layer_scale_shift_curves` and :func:`layer_log_det_grid` — what one coupling layer does: its log-scale
  ``s`` and shift ``t`` as functions of the kept coordinate, and its log|det J| over the plane;
  :func:`layer_spline_curves` — a spline coupling's map of the moved coordinate at a few kept values.
- :func:`likelihood_breakdown` — ``log p(x) = log N(z; 0, I) + Σ_k log|det J_k| + log|det S|`` term by term, in
  the data's original units (``S`` is the trainer's standardisation).
- :func:`round_trip_errors` — ``max |f⁻¹(f(x)) − x|`` for the whole flow and per layer.
- :func:`pretrained_flows` and :func:`load_pretrained` — the small flows shipped in ``assets/flows2d/`` (trained by the
  CLI, see ``assets/flows2d/make.py``), loaded as a :class:`~realnvp.training.Trainer` on the data their card names;
  :func:`animation_bounds` — the window each animation frame shows (following the points, or fixed).
- :func:`latent_diagnostics` and :func:`density_grid` — how Gaussian the data's latents are, the probability mass
  the model keeps inside a window, and "holes": where the model puts mass but the data has none.

All functions evaluate the model in ``eval`` mode under ``torch.no_grad`` and restore the mode it was in (a
:class:`~realnvp.coupling.BatchNormFlow` uses its running statistics in eval mode, exactly as ``Trainer.log_prob``
does). Points are numpy arrays in the model's (standardised) space unless a ``standardizer`` is passed.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from realnvp import datasets
from realnvp.coupling import AdditiveCoupling, AffineCoupling, Permute
from realnvp.flow import FlowConfig, RealNVP, base_log_prob
from realnvp.norm import ActNorm, BatchNormFlow
from realnvp.spline import SplineCoupling
from realnvp.training import OptimConfig, Trainer

__all__ = [
    "SIGMA_RADII",
    "evaluating",
    "subsample",
    "latent_samples",
    "grid_lines",
    "square_bounds",
    "far_grid",
    "quick_trainer",
    "PRETRAINED_DIR",
    "pretrained_flows",
    "load_pretrained",
    "animation_bounds",
    "LayerInfo",
    "describe_layers",
    "layer_inputs",
    "AnimationFrames",
    "animation_frames",
    "ScaleShiftCurves",
    "layer_scale_shift_curves",
    "SplineCurves",
    "layer_spline_curves",
    "LogDetGrid",
    "layer_log_det_grid",
    "mean_layer_log_dets",
    "LayerStep",
    "LikelihoodBreakdown",
    "likelihood_breakdown",
    "RoundTripErrors",
    "round_trip_errors",
    "LatentDiagnostics",
    "latent_diagnostics",
    "DensityGrid",
    "density_grid",
]

SIGMA_RADII = (1.0, 2.0, 3.0)  # the standard normal's 1σ, 2σ, 3σ circles
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "assets" / "flows2d"  # shipped 2-D flows (make.py there)


# -- small helpers ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in eval mode and without gradients; restore its previous mode afterwards.

    >>> flow = RealNVP(2, n_layers=2)
    >>> with evaluating(flow):
    ...     flow.training
    False
    >>> flow.training
    True
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _device_dtype(model: RealNVP) -> tuple[torch.device, torch.dtype]:
    return model.index_a.device, next(model.parameters()).dtype


def _tensor(model: RealNVP, x: Any) -> Tensor:
    device, dtype = _device_dtype(model)
    return torch.as_tensor(np.asarray(x), dtype=dtype).to(device)


def _numpy(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def _check_points(points: Any, dim: int, what: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {arr.shape}")
    return arr


def _check_layer(model: RealNVP, layer_index: int) -> int:
    k = int(layer_index)
    if not 0 <= k < len(model.layers):
        raise ValueError(f"layer_index must be in 0..{len(model.layers) - 1}, got {layer_index}")
    return k


def subsample(points: Any, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` rows of ``points``, chosen without replacement with a fixed seed (all rows if fewer).

    >>> subsample(np.arange(10.0).reshape(5, 2), 3).shape
    (3, 2)
    """
    arr = _numpy(points) if isinstance(points, Tensor) else np.asarray(points)
    if len(arr) <= n:
        return np.array(arr)
    idx = np.sort(np.random.default_rng(seed).choice(len(arr), size=int(n), replace=False))
    return np.array(arr[idx])


def latent_samples(n: int, dim: int = 2, seed: int = 0) -> np.ndarray:
    """``n`` draws from the base distribution ``N(0, I)`` (float32, seeded): the start of the sampling direction.

    >>> latent_samples(4, 2).shape
    (4, 2)
    """
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(int(n), int(dim), generator=generator).numpy()


def square_bounds(points: Any, margin: float = 0.15, quantile: float = 0.005) -> tuple[float, float, float, float]:
    """A square window ``(x0, x1, y0, y1)`` around the first two coordinates (robust quantiles plus a margin).

    >>> square_bounds(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.0, quantile=0.0)
    (0.0, 2.0, -0.5, 1.5)
    """
    arr = np.asarray(points, dtype=np.float64)[:, :2]
    arr = arr[np.isfinite(arr).all(axis=1)]
    if len(arr) == 0:
        return (-3.0, 3.0, -3.0, 3.0)
    lo = np.quantile(arr, quantile, axis=0)
    hi = np.quantile(arr, 1 - quantile, axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * (1 + margin), 1e-6)
    return (float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half))


def grid_lines(bounds: tuple[float, float, float, float], n_lines: int = 9, n_per_line: int = 60) -> np.ndarray:
    """A grid of straight lines over ``bounds``: ``n_lines`` vertical then ``n_lines`` horizontal ones.

    Shape ``(2 * n_lines, n_per_line, 2)``; the flow carries each line's points along (see :func:`animation_frames`).

    >>> grid_lines((0, 1, 0, 1), n_lines=3, n_per_line=5).shape
    (6, 5, 2)
    """
    x0, x1, y0, y1 = bounds
    along = np.linspace(0.0, 1.0, n_per_line)
    lines = []
    for c in np.linspace(x0, x1, n_lines):
        lines.append(np.stack([np.full(n_per_line, c), y0 + (y1 - y0) * along], axis=1))
    for c in np.linspace(y0, y1, n_lines):
        lines.append(np.stack([x0 + (x1 - x0) * along, np.full(n_per_line, c)], axis=1))
    return np.asarray(lines, dtype=np.float32)


def far_grid(extent: float = 20.0, n: int = 41, dim: int = 2) -> np.ndarray:
    """An ``n × n`` grid of points over ``[-extent, extent]²`` (other coordinates 0): far outside any data.

    >>> far_grid(10.0, n=3).tolist()[0]
    [-10.0, -10.0]
    """
    axis = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(axis, axis)
    out = np.zeros((n * n, dim))
    out[:, 0], out[:, 1] = gx.ravel(), gy.ravel()
    return out


def quick_trainer(
    dataset: str = "moons",
    seed: int = 0,
    steps: int = 800,
    n_points: int = 2000,
    noise: float | None = None,
    flow: FlowConfig | None = None,
) -> Trainer:
    """A small flow trained for a few seconds (8 affine couplings, cosine-decayed Adam at 3e-3): something to look
    at when no other model is at hand. ``noise`` defaults to the dataset's usual noise.

    >>> quick_trainer("moons", steps=10, n_points=300).step_count
    10
    """
    noise = datasets.DEFAULT_NOISE[dataset] if noise is None else noise
    trainer = Trainer.for_dataset(
        dataset,
        noise=noise,
        n_points=n_points,
        seed=seed,
        flow=flow,
        optim=OptimConfig(lr=3e-3, schedule="cosine", total_steps=max(int(steps), 1)),
        heldout_points=1000,
    )
    trainer.step(int(steps))
    trainer.evaluate()
    return trainer


# -- shipped pretrained flows ---------------------------------------------------------------------------------------
def pretrained_flows(directory: Path | str = PRETRAINED_DIR) -> dict[str, Path]:
    """The shipped 2-D flows by name: folders of ``directory`` holding ``model.safetensors``, ``config.json`` and
    ``card.json`` (written by ``assets/flows2d/make.py``), moons first, then by name.

    >>> "moons" in pretrained_flows() and list(pretrained_flows())[0]
    'moons'
    """
    directory = Path(directory)
    found = {
        d.name: d
        for d in directory.iterdir()
        if d.is_dir() and all((d / f).is_file() for f in ("model.safetensors", "config.json", "card.json"))
    }
    return {name: found[name] for name in sorted(found, key=lambda n: (n != "moons", n))}


def load_pretrained(name: str, directory: Path | str = PRETRAINED_DIR) -> Trainer:
    """A shipped flow as a :class:`~realnvp.training.Trainer` on the data its card names (same generator, size,
    noise and seed, so the held-out set is the one its NLL was measured on), its weights loaded (safetensors +
    JSON), its step count and held-out NLL recorded, and the card kept as ``trainer.card``. Never step it: it is
    shared by every session that shows it.

    Raises ``ValueError`` (a :class:`~realnvp.checkpoint.CheckpointError` for a bad file) naming what is wrong.

    >>> trainer = load_pretrained("moons")
    >>> trainer.name, trainer.step_count == trainer.card["steps"], abs(trainer.gap - trainer.card["gap"]) < 1e-5
    ('moons', True, True)
    """
    from realnvp.checkpoint import load_flow, standardizer_from_meta

    flows = pretrained_flows(directory)
    if name not in flows:
        raise ValueError(f"no shipped flow {name!r}; shipped: {', '.join(flows) or 'none'}")
    folder = flows[name]
    model, meta = load_flow(folder)
    try:
        card = json.loads((folder / "card.json").read_text())
        data = card["data"]
        trainer = Trainer.for_dataset(
            data["dataset"],
            noise=float(data["noise"]),
            n_points=int(data["n_points"]),
            seed=int(data["seed"]),
            flow=model.config,
            heldout_points=int(data["heldout_points"]),
        )
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{folder / 'card.json'} does not describe the flow's data ({err})") from None
    stored = standardizer_from_meta(meta)
    if stored is None or not (
        np.allclose(stored.mean, trainer.standardizer.mean) and np.allclose(stored.scale, trainer.standardizer.scale)
    ):
        raise ValueError(f"{name}: the data regenerated from its card is not the data the flow was trained on")
    trainer.model.load_state_dict(model.state_dict())
    trainer.step_count = int(card.get("steps", 0))
    trainer.evaluate()
    trainer.card = card
    return trainer


# -- what each layer is ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerInfo:
    """One entry of ``model.layers``: its kind, which coordinates it keeps and which it transforms.

    Couplings keep one half and move the other; normalisation layers rescale every coordinate by a constant;
    a permutation shuffles coordinates (log-det 0).
    """

    index: int
    kind: str
    is_coupling: bool
    kept: tuple[int, ...]
    transformed: tuple[int, ...]
    label: str


def _coord(i: int) -> str:
    return f"x{''.join('₀₁₂₃₄₅₆₇₈₉'[int(c)] for c in str(i + 1))}"


def describe_layers(model: RealNVP) -> list[LayerInfo]:
    """A :class:`LayerInfo` per entry of ``model.layers``, with a human-readable label (1-based numbering).

    >>> describe_layers(RealNVP(2, n_layers=2))[1].label
    '2 · AffineCoupling: keeps x₂, moves x₁'
    """
    index_a, index_b = model.index_a.tolist(), model.index_b.tolist()
    every = tuple(range(model.dim))
    out = []
    for k, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if isinstance(layer, AffineCoupling | AdditiveCoupling | SplineCoupling):
            kept, moved = (index_a, index_b) if layer.transform_b else (index_b, index_a)
            label = f"{k + 1} · {kind}: keeps {', '.join(map(_coord, kept))}, moves {', '.join(map(_coord, moved))}"
            out.append(LayerInfo(k, kind, True, tuple(kept), tuple(moved), label))
        elif isinstance(layer, ActNorm | BatchNormFlow):
            out.append(LayerInfo(k, kind, False, (), every, f"{k + 1} · {kind}: rescales every coordinate"))
        elif isinstance(layer, Permute):
            out.append(LayerInfo(k, kind, False, (), every, f"{k + 1} · {kind}: shuffles the coordinates"))
        else:
            out.append(LayerInfo(k, kind, False, (), every, f"{k + 1} · {kind}"))
    return out


def _layer_inputs(model: RealNVP, x: Tensor, upto: int) -> Tensor:
    """The state entering ``model.layers[upto]`` (forward direction), from the flow's own :meth:`RealNVP.trace`."""
    return model.trace(x, stop=upto).states[-1]


def layer_inputs(model: RealNVP, points: Any, layer_index: int) -> np.ndarray:
    """The points entering ``model.layers[layer_index]`` when ``points`` (model space) go forward through the flow.

    >>> layer_inputs(RealNVP(2, n_layers=2), np.ones((3, 2)), 1).shape
    (3, 2)
    """
    k = int(layer_index)
    if not 0 <= k <= len(model.layers):
        raise ValueError(f"layer_index must be in 0..{len(model.layers)}, got {layer_index}")
    with evaluating(model):
        return _numpy(_layer_inputs(model, _tensor(model, _check_points(points, model.dim)), k))


def _scale_shift(model: RealNVP, layer: nn.Module, state: Tensor) -> tuple[Tensor, Tensor | None]:
    """``(s, t)`` a coupling applies at ``state``; for a spline, ``s`` is its local log-slope ``log g'`` and ``t`` None."""
    a, b = model.split(state)
    cond, moved = (a, b) if layer.transform_b else (b, a)
    if isinstance(layer, SplineCoupling):
        return layer.elementwise(cond, moved)[1], None
    return layer.log_scale_shift(cond)


# -- the animation ---------------------------------------------------------------------------------------------------
@dataclass
class AnimationFrames:
    """Points (and grid lines) moved through the flow, one key frame per layer plus linear in-between frames.

    ``states[k]`` holds the points after ``k`` layers of the chosen direction (``states[0]`` is the input, exactly
    ``trace.states``); ``frames[f]`` is what frame ``f`` draws; ``key_frames[k]`` is the frame index that shows
    ``states[k]``. ``grid_frames[f]`` has shape ``(lines, points_per_line, dim)``. ``colour`` is each point's
    angle (radians) about the centre of the starting cloud, so a point keeps its colour from where it started.
    ``latent_frame`` is the frame showing latent space (the last one going forward, the first going inverse).
    """

    direction: str
    states: np.ndarray  # (K + 1, n, d)
    log_dets: np.ndarray  # (K, n): layer k's log|det J| in this direction
    grid_states: np.ndarray  # (K + 1, lines, m, d)
    frames: np.ndarray  # (F, n, d)
    grid_frames: np.ndarray  # (F, lines, m, d)
    key_frames: list[int]
    frame_titles: list[str]
    key_labels: list[str]
    colour: np.ndarray  # (n,)
    kinds: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def latent_frame(self) -> int:
        return self.n_frames - 1 if self.direction == "forward" else 0


def animation_frames(
    model: RealNVP,
    points: Any,
    direction: str = "forward",
    n_between: int = 4,
    grid: Any | None = None,
) -> AnimationFrames:
    """Trace ``points`` (model space) through every layer and interpolate ``n_between`` frames between layers.

    ``direction="forward"`` starts at data and ends at latents (the density direction); ``"inverse"`` starts at
    latents and ends at data (the sampling direction). ``grid`` is an optional ``(lines, m, d)`` array of lines
    in the starting space (default: :func:`grid_lines` over the points, or over ``[-3, 3]²`` going inverse).

    >>> flow = RealNVP(2, n_layers=3)
    >>> anim = animation_frames(flow, np.random.randn(50, 2), n_between=2)
    >>> anim.n_frames, anim.key_frames
    (10, [0, 3, 6, 9])
    """
    if direction not in ("forward", "inverse"):
        raise ValueError(f"direction must be 'forward' or 'inverse', got {direction!r}")
    if n_between < 0:
        raise ValueError(f"n_between must be >= 0, got {n_between}")
    pts = _check_points(points, model.dim)
    if grid is None:
        bounds = square_bounds(pts) if direction == "forward" else (-3.0, 3.0, -3.0, 3.0)
        grid = grid_lines(bounds)
        if model.dim > 2:
            grid = np.concatenate([grid, np.zeros(grid.shape[:2] + (model.dim - 2,), np.float32)], axis=2)
    grid = np.asarray(grid, dtype=np.float64)
    n_lines, per_line = grid.shape[:2]
    # Points and grid go through separately: a batch's rows are then bit-for-bit what forward/inverse give.
    with evaluating(model):
        trace = model.trace(_tensor(model, pts), direction=direction)
        grid_trace = model.trace(_tensor(model, grid.reshape(-1, model.dim)), direction=direction)
    n = len(pts)
    states = np.stack([_numpy(s) for s in trace.states])  # (K + 1, n, d)
    grid_states = np.stack([_numpy(s) for s in grid_trace.states]).reshape(-1, n_lines, per_line, model.dim)
    log_dets = np.stack([_numpy(ld) for ld in trace.log_dets]) if trace.log_dets else np.zeros((0, n))

    n_layers = len(trace.log_dets)
    steps = n_between + 1
    alphas = np.arange(steps, dtype=np.float32) / steps
    frames, grid_frames, titles, key_frames = [], [], [], []
    infos = describe_layers(model)
    order = list(range(n_layers)) if direction == "forward" else list(reversed(range(n_layers)))
    start, end = ("data", "latent z") if direction == "forward" else ("latent z", "data")
    key_labels = [start]

    def blend(lo: np.ndarray, hi: np.ndarray, alpha: float) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):  # a blown-up flow has inf states: keep them quietly
            return (1 - alpha) * lo + alpha * hi

    for k in range(n_layers):
        name = infos[order[k]].kind + ("" if direction == "forward" else "⁻¹")
        key_labels.append(end if k == n_layers - 1 else f"{order[k] + 1}")
        for j, alpha in enumerate(alphas):
            if j == 0:
                key_frames.append(len(frames))
            frames.append(blend(states[k], states[k + 1], alpha))
            grid_frames.append(blend(grid_states[k], grid_states[k + 1], alpha))
            where = start if k == 0 and j == 0 else f"after {k}/{n_layers} layers"
            titles.append(where if j == 0 else f"layer {order[k] + 1} ({name}) at work · {alpha:.0%}")
    key_frames.append(len(frames))
    frames.append(states[-1])
    grid_frames.append(grid_states[-1])
    titles.append(end)

    centre = pts.mean(axis=0) if direction == "forward" else np.zeros(model.dim)
    colour = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    return AnimationFrames(
        direction=direction,
        states=states,
        log_dets=log_dets,
        grid_states=grid_states,
        frames=np.asarray(frames, dtype=np.float32),
        grid_frames=np.asarray(grid_frames, dtype=np.float32),
        key_frames=key_frames,
        frame_titles=titles,
        key_labels=key_labels,
        colour=colour,
        kinds=list(trace.kinds),
    )


def animation_bounds(
    anim: AnimationFrames, follow: bool = True, margin: float = 0.15, quantile: float = 0.01, latent_half: float = 3.2
) -> np.ndarray:
    """The square window ``(x0, x1, y0, y1)`` each frame of ``anim`` shows, shape ``(n_frames, 4)``.

    ``follow=True``: each key frame gets a robust window around its own points (``quantile``–``1 − quantile`` of
    each coordinate plus ``margin``; the latent frame at least ``±latent_half`` so the N(0, I) circles show whole),
    and the in-between frames blend the windows of the two layers they join, so the points fill the plot at every
    layer and the camera glides. ``follow=False``: one window over every layer's points (fixed axes).

    >>> anim = animation_frames(RealNVP(2, n_layers=2), np.random.default_rng(0).normal(size=(200, 2)), n_between=1)
    >>> animation_bounds(anim).shape, bool(np.all(animation_bounds(anim, follow=False) == animation_bounds(anim, False)[0]))
    ((5, 4), True)
    """
    states = anim.states[..., :2]
    if not follow:
        pooled = np.asarray(square_bounds(states.reshape(-1, 2), margin=margin, quantile=quantile))
        return np.tile(pooled, (anim.n_frames, 1))
    latent_key = len(states) - 1 if anim.direction == "forward" else 0
    keys = []
    for k, state in enumerate(states):
        x0, x1, y0, y1 = square_bounds(state, margin=margin, quantile=quantile)
        if k == latent_key:  # the smallest square holding this window and [-h, h]²
            x0, x1 = min(x0, -latent_half), max(x1, latent_half)
            y0, y1 = min(y0, -latent_half), max(y1, latent_half)
            cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
            x0, x1, y0, y1 = cx - r, cx + r, cy - r, cy + r
        keys.append((x0, x1, y0, y1))
    keys = np.asarray(keys, dtype=np.float64)
    out = np.empty((anim.n_frames, 4))
    for k in range(len(keys) - 1):
        lo, hi = anim.key_frames[k], anim.key_frames[k + 1]
        for f in range(lo, hi):
            alpha = (f - lo) / (hi - lo)
            out[f] = (1 - alpha) * keys[k] + alpha * keys[k + 1]
    out[anim.key_frames[-1]] = keys[-1]
    return out


# -- what one layer does ---------------------------------------------------------------------------------------------
@dataclass
class ScaleShiftCurves:
    """A coupling layer's log-scale ``s`` and shift ``t`` along its kept coordinate.

    ``kept_values`` is the grid of kept-coordinate values; ``s`` and ``t`` have shape ``(len(grid), n_moved)``.
    ``inputs`` (optional) are the kept coordinate of the points entering the layer, for a rug.
    """

    layer_index: int
    kept: tuple[int, ...]
    transformed: tuple[int, ...]
    kept_values: np.ndarray
    s: np.ndarray
    t: np.ndarray
    inputs: np.ndarray | None = None


def layer_scale_shift_curves(
    model: RealNVP,
    layer_index: int,
    grid: Any = 200,
    points: Any | None = None,
) -> ScaleShiftCurves:
    """``s(c)`` and ``t(c)`` of coupling ``model.layers[layer_index]`` for kept-coordinate values ``c``.

    ``grid`` is a 1-D array of kept values, or a count: then the range covers where ``points`` (data in model
    space, pushed through the earlier layers) sit, or ``[-3, 3]`` without points. Needs one kept coordinate
    (a 2-D flow); raises ``ValueError`` for a non-coupling layer.

    >>> curves = layer_scale_shift_curves(RealNVP(2, n_layers=2), 0, np.linspace(-1, 1, 5))
    >>> curves.s.shape, float(abs(curves.s).max())  # a fresh flow is the identity
    ((5, 1), 0.0)
    """
    k = _check_layer(model, layer_index)
    info = describe_layers(model)[k]
    if not info.is_coupling:
        raise ValueError(f"layer {k + 1} is a {info.kind}, not a coupling: it has no s(·) and t(·) curves")
    if len(info.kept) != 1:
        raise ValueError(f"s and t are curves only when one coordinate is kept (dim 2); this layer keeps {info.kept}")
    layer = model.layers[k]
    if isinstance(layer, SplineCoupling):
        raise ValueError(f"layer {k + 1} is a spline coupling: it has no s(·) and t(·); see layer_spline_curves")
    inputs = None
    with evaluating(model):
        if points is not None:
            state = _layer_inputs(model, _tensor(model, _check_points(points, model.dim)), k)
            inputs = _numpy(state[:, info.kept[0]]).astype(np.float64)
        if np.ndim(grid) == 0:
            if inputs is not None and len(inputs):
                lo, hi = np.quantile(inputs, [0.005, 0.995])
                pad = 0.15 * max(hi - lo, 1e-3)
                values = np.linspace(lo - pad, hi + pad, int(grid))
            else:
                values = np.linspace(-3.0, 3.0, int(grid))
        else:
            values = np.asarray(grid, dtype=np.float64).reshape(-1)
        s, t = layer.log_scale_shift(_tensor(model, values[:, None]))
    return ScaleShiftCurves(k, info.kept, info.transformed, values, _numpy(s), _numpy(t), inputs)


@dataclass
class SplineCurves:
    """A spline coupling's map ``x'_B = g(x_B | x_A)`` of the moved coordinate, at a few values of the kept one.

    ``kept_values`` has shape ``(m,)``, ``moved_values`` ``(n,)``; ``outputs[i, j]`` is ``g(moved_values[j] |
    kept_values[i])`` (one moved coordinate: a 2-D flow). Outside ``±tail_bound`` the map is the identity.
    ``inputs`` (optional) are the moved coordinate of the points entering the layer, for a rug.
    """

    layer_index: int
    kept: tuple[int, ...]
    transformed: tuple[int, ...]
    kept_values: np.ndarray
    moved_values: np.ndarray
    outputs: np.ndarray
    tail_bound: float
    inputs: np.ndarray | None = None


def layer_spline_curves(
    model: RealNVP, layer_index: int, points: Any | None = None, n_curves: int = 5, resolution: int = 241
) -> SplineCurves:
    """``g(· | c)`` of spline coupling ``model.layers[layer_index]`` over ``±1.2 × tail_bound``, for ``n_curves``
    kept values ``c``: quantiles (5 % … 95 %) of where ``points`` (model space) enter the layer, else ``[-2, 2]``.

    >>> curves = layer_spline_curves(RealNVP(2, n_layers=2, coupling="spline"), 0, n_curves=3, resolution=7)
    >>> curves.outputs.shape, bool(np.allclose(curves.outputs, curves.moved_values, atol=1e-5))  # identity at first
    ((3, 7), True)
    """
    k = _check_layer(model, layer_index)
    info = describe_layers(model)[k]
    layer = model.layers[k]
    if not isinstance(layer, SplineCoupling):
        raise ValueError(f"layer {k + 1} is a {info.kind}, not a spline coupling")
    if len(info.kept) != 1:
        raise ValueError(
            f"the spline is a curve only when one coordinate is kept (dim 2); this layer keeps {info.kept}"
        )
    bound = layer.tail_bound
    moved = np.linspace(-1.2 * bound, 1.2 * bound, int(resolution))
    inputs = None
    kept_values = np.linspace(-2.0, 2.0, int(n_curves))
    with evaluating(model):
        if points is not None:
            state = _numpy(_layer_inputs(model, _tensor(model, _check_points(points, model.dim)), k))
            if len(state):
                kept_values = np.quantile(state[:, info.kept[0]], np.linspace(0.05, 0.95, int(n_curves)))
                inputs = state[:, info.transformed[0]].astype(np.float64)
        cond = _tensor(model, np.repeat(kept_values, len(moved))[:, None])
        x = _tensor(model, np.tile(moved, len(kept_values))[:, None])
        y = _numpy(layer.elementwise(cond, x)[0]).astype(np.float64).reshape(len(kept_values), len(moved))
    return SplineCurves(k, info.kept, info.transformed, kept_values, moved, y, bound, inputs)


@dataclass
class LogDetGrid:
    """One layer's log|det J| on a ``resolution²`` grid: ``log_det[iy, ix]`` at ``(xs[ix], ys[iy])``.

    ``space="input"``: the grid lies in the layer's own input plane; ``"data"``: in the (model-space) data plane,
    pushed through the earlier layers first, so it shows where in the data this layer stretches (> 0) or
    squeezes (< 0).
    """

    layer_index: int
    space: str
    xs: np.ndarray
    ys: np.ndarray
    log_det: np.ndarray


def layer_log_det_grid(
    model: RealNVP,
    layer_index: int,
    bounds: tuple[float, float, float, float] = (-3.0, 3.0, -3.0, 3.0),
    resolution: int = 80,
    space: str = "data",
) -> LogDetGrid:
    """Layer ``layer_index``'s per-point log|det J| over a grid of the plane (2-D flows).

    >>> g = layer_log_det_grid(RealNVP(2, n_layers=2), 1, resolution=4)
    >>> g.log_det.shape
    (4, 4)
    """
    k = _check_layer(model, layer_index)
    if space not in ("data", "input"):
        raise ValueError(f"space must be 'data' or 'input', got {space!r}")
    if model.dim != 2:
        raise ValueError(f"a log-det map over the plane needs a 2-D flow, this one has dim {model.dim}")
    x0, x1, y0, y1 = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = _tensor(model, np.stack([gx.ravel(), gy.ravel()], axis=1))
    with evaluating(model):
        # "data": trace the grid through layers 0..k and keep layer k's term; "input": layer k alone on the grid
        log_det = (
            model.trace(grid, stop=k + 1).log_dets[k]
            if space == "data"
            else model.trace(grid, start=k, stop=k + 1).log_dets[0]
        )
    return LogDetGrid(k, space, xs, ys, _numpy(log_det).astype(np.float64).reshape(resolution, resolution))


def mean_layer_log_dets(model: RealNVP, points: Any) -> np.ndarray:
    """Each layer's mean log|det J| over ``points`` (model space, forward direction), shape ``(len(layers),)``.

    Their sum is the mean of the flow's total log-det.

    >>> mean_layer_log_dets(RealNVP(2, n_layers=3), np.random.randn(20, 2)).tolist()
    [0.0, 0.0, 0.0]
    """
    with evaluating(model):
        trace = model.trace(_tensor(model, _check_points(points, model.dim)))
    return np.array([float(_numpy(ld).astype(np.float64).mean()) for ld in trace.log_dets])


# -- the exact likelihood, term by term ------------------------------------------------------------------------------
@dataclass
class LayerStep:
    """What layer ``index`` did to one point: its position before and after, its log|det J|, and for couplings
    the log-scale ``s`` and shift ``t`` it applied to the moved coordinates (a spline coupling: ``s`` is its local
    log-slope ``log g'`` at the point, ``t`` is None)."""

    index: int
    label: str
    kind: str
    before: np.ndarray
    after: np.ndarray
    log_det: float
    kept: tuple[int, ...]
    transformed: tuple[int, ...]
    s: np.ndarray | None = None
    t: np.ndarray | None = None


@dataclass
class LikelihoodBreakdown:
    """``log p(x)`` in the data's original units as a sum of exact parts.

    ``total = log_base + sum(layer log-dets) + standardizer_log_det`` where ``log_base = log N(z; 0, I)``,
    ``z = f(S(x))`` and ``S`` is the standardisation (``standardizer_log_det = log|det S|``). ``model_log_prob`` is
    the same quantity computed the ordinary way (``model.log_prob`` plus ``log|det S|``), for a cross-check.
    """

    point: np.ndarray
    x: np.ndarray
    z: np.ndarray
    steps: list[LayerStep]
    log_base: float
    standardizer_log_det: float
    model_log_prob: float

    @property
    def layer_log_dets(self) -> np.ndarray:
        return np.array([s.log_det for s in self.steps])

    @property
    def total(self) -> float:
        return float(self.log_base + self.layer_log_dets.sum() + self.standardizer_log_det)

    def terms(self) -> list[tuple[str, float]]:
        """``(name, value)`` pairs in the order the point travels; their values sum to :attr:`total`."""
        out = [("log|det S| (standardise)", self.standardizer_log_det)]
        out += [(f"log|det J_{s.index + 1}| ({s.kind})", s.log_det) for s in self.steps]
        out.append(("log N(z; 0, I)", self.log_base))
        return out

    def rows(self) -> list[dict[str, Any]]:
        """A table: one row per stage with the point's position, the term it adds and the running sum."""
        d = len(self.x)
        rows: list[dict[str, Any]] = []
        running = self.standardizer_log_det

        def row(stage: str, position: np.ndarray, term: float | None, s: np.ndarray | None = None) -> dict:
            out = {"stage": stage}
            out.update({_coord(i): float(position[i]) for i in range(d)})
            out["s (log-scale)"] = None if s is None else float(np.sum(s))
            out["term (nats)"] = term
            out["running sum"] = running
            return out

        rows.append(row("x (data units)", self.point, None))
        rows[-1]["running sum"] = None
        rows.append(row("S(x) standardised", self.x, self.standardizer_log_det))
        for step in self.steps:
            running += step.log_det
            rows.append(row(f"after layer {step.index + 1} ({step.kind})", step.after, step.log_det, step.s))
        running += self.log_base
        rows.append(row("z: + log N(z; 0, I)", self.z, self.log_base))
        return rows


def likelihood_breakdown(model: RealNVP, standardizer: Any | None, point: Any) -> LikelihoodBreakdown:
    """Break ``log p(point)`` (original units) into the standardisation's, every layer's and the base's terms.

    ``standardizer`` is a :class:`~realnvp.datasets.Standardizer` (``None``: the point is already in model space).

    >>> flow = RealNVP(2, n_layers=2)
    >>> b = likelihood_breakdown(flow, None, [0.5, -1.0])
    >>> abs(b.total - b.model_log_prob) < 1e-5, len(b.terms())
    (True, 4)
    """
    point = np.asarray(point, dtype=np.float64).reshape(-1)
    if point.shape != (model.dim,) or not np.isfinite(point).all():
        raise ValueError(f"point must be {model.dim} finite numbers, got {point.tolist()}")
    if standardizer is None:
        x, std_log_det = point.copy(), 0.0
    else:
        x = np.asarray(standardizer.transform(point[None]), dtype=np.float64)[0]
        std_log_det = float(standardizer.log_abs_det)
    infos = describe_layers(model)
    xt = _tensor(model, x[None])
    steps = []
    with evaluating(model):
        trace = model.trace(xt)
        for k, layer in enumerate(model.layers):
            info = infos[k]
            s = t = None
            if info.is_coupling:
                s_k, t_k = _scale_shift(model, layer, trace.states[k])
                s = _numpy(s_k[0]).astype(np.float64)
                t = None if t_k is None else _numpy(t_k[0]).astype(np.float64)
            steps.append(
                LayerStep(
                    index=k,
                    label=info.label,
                    kind=info.kind,
                    before=_numpy(trace.states[k][0]).astype(np.float64),
                    after=_numpy(trace.states[k + 1][0]).astype(np.float64),
                    log_det=float(trace.log_dets[k][0]),
                    kept=info.kept,
                    transformed=info.transformed,
                    s=s,
                    t=t,
                )
            )
        z = trace.states[-1]
        log_base = float(base_log_prob(z.detach().cpu().double())[0])
        model_lp = float(model.log_prob(xt)[0]) + std_log_det
    return LikelihoodBreakdown(
        point=point,
        x=_numpy(xt[0]).astype(np.float64),
        z=_numpy(z[0]).astype(np.float64),
        steps=steps,
        log_base=log_base,
        standardizer_log_det=std_log_det,
        model_log_prob=model_lp,
    )


# -- invertibility ---------------------------------------------------------------------------------------------------
@dataclass
class RoundTripErrors:
    """``max |f⁻¹(f(x)) − x|`` over a set of points, for the whole flow and for each layer on its own inputs.

    ``relative`` divides each error by ``max(1, |x|)``; ``n_nonfinite`` counts points whose round trip gave
    NaN/Inf (their error counts as ``inf``).
    """

    flow: float
    relative: float
    per_layer: np.ndarray
    n_points: int
    n_nonfinite: int


def _max_abs(diff: Tensor | np.ndarray) -> float:
    """Largest absolute entry, NaN counting as inf (computed on the CPU in float64: MPS has no float64)."""
    arr = np.abs(_numpy(diff) if isinstance(diff, Tensor) else diff).astype(np.float64)
    return float(np.where(np.isnan(arr), np.inf, arr).max()) if arr.size else 0.0


def round_trip_errors(model: RealNVP, points: Any) -> RoundTripErrors:
    """Invert the whole flow and each layer separately on ``points`` (model space) and report the worst error.

    >>> err = round_trip_errors(RealNVP(2, n_layers=4), np.random.randn(100, 2))
    >>> err.flow < 1e-5, err.per_layer.shape
    (True, (4,))
    """
    x = _tensor(model, _check_points(points, model.dim))
    per_layer = []
    with evaluating(model):
        z, _ = model(x)
        back, _ = model.inverse(z)
        states = model.trace(x).states
        for k in range(len(model.layers)):  # layer k's inverse applied to layer k's own output
            undone = model.trace(states[k + 1], direction="inverse", start=k, stop=k + 1).states[-1]
            per_layer.append(_max_abs(undone - states[k]))
    x_np, back_np = _numpy(x).astype(np.float64), _numpy(back).astype(np.float64)
    diff = back_np - x_np
    return RoundTripErrors(
        flow=_max_abs(diff),
        relative=_max_abs(diff / np.maximum(np.abs(x_np), 1.0)),
        per_layer=np.array(per_layer),
        n_points=len(x_np),
        n_nonfinite=int((~np.isfinite(back_np).all(axis=1)).sum()),
    )


# -- latent space ----------------------------------------------------------------------------------------------------
@dataclass
class LatentDiagnostics:
    """How standard-normal the latents ``z = f(x)`` of the data look.

    Per dimension: ``mean`` (ideal 0), ``var`` (ideal 1) and the Kolmogorov–Smirnov statistic against N(0, 1)
    with its p-value. ``inside`` is the fraction of latents within each radius of ``radii`` (1σ, 2σ, 3σ), next to
    ``expected``, what N(0, I) puts there (χ² with ``dim`` degrees of freedom).
    """

    z: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    ks_statistic: np.ndarray
    ks_pvalue: np.ndarray
    radii: tuple[float, ...]
    inside: np.ndarray
    expected: np.ndarray

    def rows(self) -> list[dict[str, Any]]:
        """One row per latent dimension (mean, variance, KS statistic and p-value)."""
        return [
            {
                "dimension": f"z{_coord(i)[1:]}",
                "mean (ideal 0)": float(self.mean[i]),
                "variance (ideal 1)": float(self.var[i]),
                "KS statistic": float(self.ks_statistic[i]),
                "KS p-value": float(self.ks_pvalue[i]),
            }
            for i in range(len(self.mean))
        ]


def latent_diagnostics(model: RealNVP, points: Any, radii: Sequence[float] = SIGMA_RADII) -> LatentDiagnostics:
    """Map ``points`` (model space) to latent space and test each latent dimension against N(0, 1).

    >>> diag = latent_diagnostics(RealNVP(2, n_layers=2), np.random.default_rng(0).normal(size=(500, 2)))
    >>> bool(diag.ks_pvalue.min() > 0.01), diag.expected.round(3).tolist()
    (True, [0.393, 0.865, 0.989])
    """
    from scipy import stats  # scipy comes with scikit-learn

    x = _check_points(points, model.dim)
    with evaluating(model):
        z = _numpy(model(_tensor(model, x))[0]).astype(np.float64)
    finite = z[np.isfinite(z).all(axis=1)]  # a blown-up flow may send points to inf: judge the rest
    radii = tuple(float(r) for r in radii)
    expected = np.array([stats.chi2.cdf(r * r, model.dim) for r in radii])
    if len(finite) < 2:
        nan = np.full(model.dim, np.nan)
        return LatentDiagnostics(z, nan, nan, nan, nan, radii, np.full(len(radii), np.nan), expected)
    ks = [stats.kstest(finite[:, i], "norm") for i in range(model.dim)]
    r2 = (finite**2).sum(axis=1)
    return LatentDiagnostics(
        z=z,
        mean=finite.mean(axis=0),
        var=finite.var(axis=0),
        ks_statistic=np.array([k.statistic for k in ks]),
        ks_pvalue=np.array([k.pvalue for k in ks]),
        radii=radii,
        inside=np.array([(r2 <= r * r).mean() for r in radii]),
        expected=expected,
    )


# -- the density over a window ---------------------------------------------------------------------------------------
@dataclass
class DensityGrid:
    """Model density over a window of the plane (original units), its mass there, and where it has "holes".

    ``log_p[iy, ix]`` is the model's log-density at cell centre ``(xs[ix], ys[iy])``; ``mass`` ≈ ∫ p over the
    window (midpoint rule), so ``1 − mass`` is the mass outside it. With data: ``data_density`` is a Gaussian KDE
    of the data on the same cells, and ``holes`` marks cells inside the model's highest-density region holding
    ``hdr`` of the window's mass where the data density is below ``hole_ratio`` × the model's. ``hole_mass`` is
    the model mass in those cells.
    """

    xs: np.ndarray
    ys: np.ndarray
    log_p: np.ndarray
    cell_area: float
    mass: float
    data_density: np.ndarray | None = None
    holes: np.ndarray | None = None
    hole_mass: float = 0.0


def _kde_on_grid(data: np.ndarray, xs: np.ndarray, ys: np.ndarray, bandwidth_factor: float) -> np.ndarray:
    """Product-Gaussian KDE with Scott's bandwidth, evaluated on the grid as one matrix product."""
    n = len(data)
    h = data.std(axis=0) * n ** (-1.0 / 6.0) * bandwidth_factor
    h = np.maximum(h, 1e-9)

    def kernel(centres: np.ndarray, values: np.ndarray, width: float) -> np.ndarray:
        u = (centres[:, None] - values[None, :]) / width
        return np.exp(-0.5 * u * u) / (width * math.sqrt(2 * math.pi))

    return kernel(ys, data[:, 1], h[1]) @ kernel(xs, data[:, 0], h[0]).T / n


def density_grid(
    model: RealNVP,
    standardizer: Any | None,
    bounds: tuple[float, float, float, float],
    resolution: int = 100,
    data: Any | None = None,
    hdr: float = 0.95,
    hole_ratio: float = 0.1,
    bandwidth_factor: float = 0.7,
) -> DensityGrid:
    """Model density on the cell centres of a ``resolution²`` grid over ``bounds`` (original units), its mass in
    the window and, given ``data`` (original units), the holes where the model has mass but the data has none.

    >>> g = density_grid(RealNVP(2, n_layers=2), None, (-6, 6, -6, 6), resolution=120)
    >>> round(g.mass, 3)  # a fresh flow is N(0, I): almost all its mass is inside ±6
    1.0
    """
    if model.dim != 2:
        raise ValueError(f"a density grid over the plane needs a 2-D flow, this one has dim {model.dim}")
    x0, x1, y0, y1 = bounds
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"bounds must be (x0, x1, y0, y1) with x1 > x0 and y1 > y0, got {bounds}")
    dx, dy = (x1 - x0) / resolution, (y1 - y0) / resolution
    xs = x0 + dx * (np.arange(resolution) + 0.5)
    ys = y0 + dy * (np.arange(resolution) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    offset = 0.0
    if standardizer is not None:
        pts = standardizer.transform(pts)
        offset = float(standardizer.log_abs_det)
    with evaluating(model):
        log_p = _numpy(model.log_prob(_tensor(model, pts))).astype(np.float64) + offset
    log_p = log_p.reshape(resolution, resolution)
    p = np.exp(np.where(np.isfinite(log_p), log_p, -np.inf))
    area = dx * dy
    out = DensityGrid(xs, ys, log_p, area, float(p.sum() * area))
    if data is not None:
        data = _check_points(data, 2, "data")
        kde = _kde_on_grid(data, xs, ys, bandwidth_factor)
        order = np.sort(p.ravel())[::-1]
        cumulative = np.cumsum(order) / max(order.sum(), 1e-300)
        level = order[min(int(np.searchsorted(cumulative, hdr)), len(order) - 1)]
        holes = (p >= level) & (kde < hole_ratio * p)
        out.data_density = kde
        out.holes = holes
        out.hole_mass = float(p[holes].sum() * area)
    return out
