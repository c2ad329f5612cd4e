"""Plotly figure builders for the Playground: arrays in, ``go.Figure`` out. No Streamlit, no training.

Every figure sets ``uirevision`` so a user's zoom survives live updates, uses ``Scattergl`` for point clouds, and a
large font so it reads from the back of a room.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "points_figure",
    "density_figure",
    "loss_figure",
    "scores_figure",
    "downsample_curve",
    "binned_mean",
    "ema",
]

FONT = dict(size=16)
DATA_COLOR = "rgba(90, 90, 90, 0.45)"
SAMPLE_COLOR = "rgba(230, 85, 13, 0.65)"
TRAIN_COLOR = "rgba(49, 130, 189, 0.45)"
HELDOUT_COLOR = "rgb(8, 48, 107)"
FLOOR_COLOR = "rgb(44, 160, 44)"


def _layout(fig: go.Figure, title: str, uirevision: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.02, font=dict(size=18)),
        font=FONT,
        height=height,
        margin=dict(l=10, r=10, t=48, b=10),
        uirevision=uirevision,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        plot_bgcolor="white",
    )
    return fig


def _square_axes(fig: go.Figure, bounds: tuple[float, float, float, float] | None) -> None:
    if bounds is not None:
        x0, x1, y0, y1 = bounds
        fig.update_xaxes(range=[x0, x1])
        fig.update_yaxes(range=[y0, y1])
    fig.update_yaxes(scaleanchor="x", scaleratio=1, showgrid=False, zeroline=False)
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain")


def points_figure(
    data: np.ndarray,
    samples: np.ndarray | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    uirevision: str = "points",
    title: str = "Data (grey) and model samples (orange)",
) -> go.Figure:
    """Data points against samples drawn from the model, on equal axes.

    >>> points_figure(np.zeros((3, 2)), np.ones((4, 2))).data[1].name
    'samples'
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(x=data[:, 0], y=data[:, 1], mode="markers", name="data", marker=dict(size=4, color=DATA_COLOR))
    )
    if samples is not None:
        fig.add_trace(
            go.Scattergl(
                x=samples[:, 0],
                y=samples[:, 1],
                mode="markers",
                name="samples",
                marker=dict(size=4, color=SAMPLE_COLOR),
            )
        )
    _square_axes(fig, bounds)
    return _layout(fig, title, uirevision)


def density_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    log_density: np.ndarray,
    data: np.ndarray | None = None,
    uirevision: str = "density",
    title: str = "Model log-density log p(x)",
    floor_quantile: float = 0.05,
) -> go.Figure:
    """Heatmap of ``log_density[iy, ix]`` over the grid ``xs × ys`` (with an optional faint data overlay).

    The colour scale's bottom is clipped at a low quantile so the empty plane doesn't wash out the shape.
    """
    finite = log_density[np.isfinite(log_density)]
    zmax = float(finite.max()) if finite.size else 0.0
    zmin = float(np.quantile(finite, floor_quantile)) if finite.size else -1.0
    zmin = max(zmin, zmax - 12.0)
    fig = go.Figure(
        go.Heatmap(
            x=xs,
            y=ys,
            z=np.nan_to_num(log_density, nan=zmin, neginf=zmin, posinf=zmax),
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            colorbar=dict(title=dict(text="log p"), thickness=14),
            hovertemplate="x %{x:.2f}<br>y %{y:.2f}<br>log p %{z:.2f}<extra></extra>",
        )
    )
    if data is not None:
        fig.add_trace(
            go.Scattergl(
                x=data[:, 0],
                y=data[:, 1],
                mode="markers",
                name="data",
                marker=dict(size=2, color="rgba(255,255,255,0.35)"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    _square_axes(fig, (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1])))
    return _layout(fig, title, uirevision)


def ema(values: Sequence[float], alpha: float = 0.05) -> np.ndarray:
    """Exponential moving average (the smoothed training-loss line).

    >>> ema([1.0, 1.0, 3.0], alpha=0.5).tolist()
    [1.0, 1.0, 2.0]
    """
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    acc = values[0] if len(values) else 0.0
    for i, v in enumerate(values):
        acc = acc + alpha * (v - acc) if np.isfinite(v) else acc
        out[i] = acc
    return out


def binned_mean(x: Sequence[float], y: Sequence[float], bins: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Average a long noisy curve over at most ``bins`` consecutive blocks (the smoothed training loss).

    >>> binned_mean([1, 2, 3, 4], [1.0, 3.0, 5.0, 7.0], bins=2)
    (array([1.5, 3.5]), array([2., 6.]))
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= bins:
        return x, y
    starts = np.linspace(0, len(x), bins, endpoint=False).astype(int)
    counts = np.diff(np.append(starts, len(x)))
    return np.add.reduceat(x, starts) / counts, np.add.reduceat(y, starts) / counts


def downsample_curve(x: Sequence[float], y: Sequence[float], max_points: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` evenly spaced points of a long curve (always keeping the last)."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[idx], y[idx]


def loss_figure(
    steps: Sequence[int],
    train_nll: Sequence[float],
    eval_steps: Sequence[int],
    heldout_nll: Sequence[float],
    entropy: float | None = None,
    uirevision: str = "loss",
    title: str = "Negative log-likelihood (nats)",
) -> go.Figure:
    """Training NLL (smoothed), held-out NLL and the dataset's true-entropy floor with the gap to it."""
    # Kept deliberately light (lines only, no shapes or annotations): it is redrawn several times a second.
    fig = go.Figure()
    if len(steps):
        sx, sy = binned_mean(steps, train_nll, bins=150)
        fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name="train (binned)", line=dict(color=TRAIN_COLOR)))
    if len(eval_steps):
        ex, ey = downsample_curve(eval_steps, heldout_nll, max_points=200)
        gap = f" — gap {heldout_nll[-1] - entropy:+.3f}" if entropy is not None else ""
        fig.add_trace(
            go.Scatter(x=ex, y=ey, mode="lines", name=f"held-out{gap}", line=dict(color=HELDOUT_COLOR, width=3))
        )
    if entropy is not None:
        right = max(steps[-1] if len(steps) else 1, 1)
        fig.add_trace(
            go.Scatter(
                x=[0, right],
                y=[entropy, entropy],
                mode="lines",
                name=f"true entropy {entropy:.3f} (the floor)",
                line=dict(color=FLOOR_COLOR, dash="dash", width=2),
                hoverinfo="skip",
            )
        )
    values = [v for v in list(heldout_nll) + ([entropy] if entropy is not None else []) if np.isfinite(v)]
    if len(train_nll):
        tail = np.asarray(train_nll[-200:], dtype=float)
        values += tail[np.isfinite(tail)].tolist()
    if values:
        lo, hi = min(values), max(values)
        if len(heldout_nll):
            hi = min(hi, max(heldout_nll[-1] + 1.5, (entropy or lo) + 1.5))
        pad = 0.08 * (hi - lo + 1e-3)
        fig.update_yaxes(range=[lo - pad, hi + pad])
    fig.update_xaxes(title_text="step")
    return _layout(fig, title, uirevision, height=360)


def scores_figure(
    points: np.ndarray,
    log_density: np.ndarray,
    threshold: float | None = None,
    uirevision: str = "scores",
    title: str = "Every point coloured by the model's log-density",
) -> go.Figure:
    """Points coloured by log p(x), with those below ``threshold`` ringed in red."""
    lo = float(np.quantile(log_density, 0.01)) if len(log_density) else 0.0
    fig = go.Figure(
        go.Scattergl(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            name="points",
            marker=dict(
                size=5,
                color=np.maximum(log_density, lo),
                colorscale="Viridis",
                colorbar=dict(title=dict(text="log p"), thickness=14),
            ),
            hovertemplate="x %{x:.3g}<br>y %{y:.3g}<br>log p %{marker.color:.2f}<extra></extra>",
        )
    )
    if threshold is not None:
        low = log_density <= threshold
        fig.add_trace(
            go.Scattergl(
                x=points[low, 0],
                y=points[low, 1],
                mode="markers",
                name=f"below threshold ({int(low.sum())})",
                marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(color="red", width=2)),
                hoverinfo="skip",
            )
        )
    _square_axes(fig, None)
    return _layout(fig, title, uirevision)
