"""Plotly figure builders for the Playground: arrays in, ``go.Figure`` out. No Streamlit, no training.

Every figure sets ``uirevision`` so a user's zoom survives live updates, uses ``Scattergl`` for point clouds, and a
large font so it reads from the back of a room.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "points_figure",
    "points_spec",
    "density_spec",
    "loss_spec",
    "packed_array",
    "downsample_curve",
    "binned_mean",
]

FONT = dict(size=16)
DATA_COLOR = "rgba(90, 90, 90, 0.45)"
SAMPLE_COLOR = "rgba(230, 85, 13, 0.65)"
TRAIN_COLOR = "rgba(49, 130, 189, 0.45)"
HELDOUT_COLOR = "rgb(8, 48, 107)"
FLOOR_COLOR = "rgb(44, 160, 44)"


FONT_FAMILY = '"Source Sans Pro", "Source Sans 3", sans-serif'


def packed_array(values, packed: bool = True):
    """An array as Plotly's base64 typed-array spec (``{"dtype", "bdata", "shape"}``), or a plain list.

    Packed arrays cost the server almost nothing to encode and the browser almost nothing to decode.

    >>> packed_array(np.array([1.0, 2.0], dtype=np.float32))
    {'dtype': 'f4', 'bdata': 'AACAPwAAAEA='}
    """
    arr = np.ascontiguousarray(values)
    if not packed:
        return arr
    arr = arr.astype(np.float32 if arr.dtype.kind == "f" else np.int32, copy=False)
    spec = {"dtype": "f4" if arr.dtype.kind == "f" else "i4", "bdata": base64.b64encode(arr.tobytes()).decode()}
    if arr.ndim == 2:
        spec["shape"] = f"{arr.shape[0]}, {arr.shape[1]}"
    return spec


def axis_spec(**extra) -> dict:
    """A live chart's axis: fixed margins, outside ticks, no grid, ``extra`` on top (shared by every page's charts)."""
    # Fixed margins instead of automargin: measuring tick labels on every live redraw was half of the browser's work.
    base = dict(automargin=False, ticklabeloverflow="allow", showgrid=False, zeroline=False, ticks="outside")
    return {**base, "linecolor": "#bbb", **extra}


def layout_spec(title: str, uirevision: str, height: int = 420, **extra) -> dict:
    """A live chart's layout: the title, fonts, margins, legend and white background every page's charts share."""
    return dict(
        title=dict(text=title, x=0.02, font=dict(size=18)),
        font=dict(size=16, family=FONT_FAMILY),
        height=height,
        margin=dict(l=56, r=16, t=56, b=44),
        uirevision=uirevision,
        # inside the plot's top-right corner, where a falling curve leaves room: above the plot it ran into the
        # title on a phone-wide chart
        legend=dict(orientation="h", yanchor="top", y=1.0, xanchor="right", x=1.0, bgcolor="rgba(255,255,255,0.8)"),
        plot_bgcolor="white",
        paper_bgcolor="white",
        **extra,
    )


# The density and samples panels share these margins (the density has no colour bar), so with equal
# heights and the same bounds their plot areas are identical: the audience compares like with like.
SQUARE_MARGIN = dict(l=56, r=16, t=56, b=64)


def _square_axes_spec(bounds: tuple[float, float, float, float] | None) -> dict:
    xaxis, yaxis = axis_spec(constrain="domain"), axis_spec(scaleanchor="x", scaleratio=1)
    if bounds is not None:
        x0, x1, y0, y1 = (float(b) for b in bounds)
        xaxis["range"], yaxis["range"] = [x0, x1], [y0, y1]
    return dict(xaxis=xaxis, yaxis=yaxis)


def _layout(fig: go.Figure, title: str, uirevision: str, height: int = 420) -> go.Figure:
    fig.update_layout(layout_spec(title, uirevision, height))
    return fig


def _square_axes(fig: go.Figure, bounds: tuple[float, float, float, float] | None) -> None:
    fig.update_layout(_square_axes_spec(bounds))


def points_spec(
    data: np.ndarray,
    samples: np.ndarray | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    uirevision: str = "points",
    title: str = "Data (grey) and model samples (orange)",
    packed: bool = True,
    height: int = 420,
) -> dict:
    """Plotly figure dict: data points against samples drawn from the model, on equal axes (``Scattergl``).

    A plain dict is ~50× cheaper to build than a validated ``go.Figure``: the live charts rebuild it every frame.

    >>> [trace["name"] for trace in points_spec(np.zeros((3, 2)), np.ones((4, 2)))["data"]]
    ['data', 'samples']
    """

    def cloud(points: np.ndarray, name: str, color: str) -> dict:
        return dict(
            type="scattergl",
            x=packed_array(points[:, 0], packed),
            y=packed_array(points[:, 1], packed),
            mode="markers",
            name=name,
            marker=dict(size=4, color=color),
        )

    traces = [cloud(data, "data", DATA_COLOR)]
    if samples is not None:
        traces.append(cloud(samples, "samples", SAMPLE_COLOR))
    # no legend: the title names the colours, and a legend costs every live redraw a measuring pass
    layout = layout_spec(title, uirevision, height, showlegend=False, **_square_axes_spec(bounds))
    layout["margin"] = dict(SQUARE_MARGIN)
    return dict(data=traces, layout=layout)


def points_figure(
    data: np.ndarray,
    samples: np.ndarray | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    uirevision: str = "points",
    title: str = "Data (grey) and model samples (orange)",
) -> go.Figure:
    """Data points against samples drawn from the model, on equal axes (:func:`points_spec` as a ``go.Figure``).

    >>> points_figure(np.zeros((3, 2)), np.ones((4, 2))).data[1].name
    'samples'
    """
    return go.Figure(points_spec(data, samples, bounds, uirevision, title, packed=False))


def density_spec(
    xs: np.ndarray,
    ys: np.ndarray,
    log_density: np.ndarray,
    uirevision: str = "density",
    title: str = "Model log-density log p(x)",
    floor_quantile: float = 0.05,
    packed: bool = True,
    height: int = 420,
    bounds: tuple[float, float, float, float] | None = None,
) -> dict:
    """Plotly figure dict: heatmap of ``log_density[iy, ix]`` over the grid ``xs × ys``, in data units.

    The colour scale's bottom is clipped at a low quantile so the empty plane doesn't wash out the shape. No colour
    bar (the title states the scale), so the plot area matches :func:`points_spec`'s at the same height and
    ``bounds``: the two panels can be compared point for point.

    >>> spec = density_spec(np.arange(3.0), np.arange(2.0), np.zeros((2, 3)), packed=False)
    >>> spec["data"][0]["type"], spec["data"][0]["z"].shape
    ('heatmap', (2, 3))
    """
    finite = log_density[np.isfinite(log_density)]
    zmax = float(finite.max()) if finite.size else 0.0
    zmin = float(np.quantile(finite, floor_quantile)) if finite.size else -1.0
    zmin = max(zmin, zmax - 12.0)
    heatmap = dict(
        type="heatmap",
        x=packed_array(xs, packed),
        y=packed_array(ys, packed),
        z=packed_array(np.nan_to_num(log_density, nan=zmin, neginf=zmin, posinf=zmax), packed),
        zmin=zmin,
        zmax=zmax,
        colorscale="Viridis",
        showscale=False,  # a colour bar would shrink this plot below the samples panel's size
        hovertemplate="x %{x:.2f}<br>y %{y:.2f}<br>log p %{z:.2f}<extra></extra>",
    )
    if bounds is None:
        bounds = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    title = f"{title} · dark {zmin:.0f} → yellow {zmax:.1f}"
    layout = layout_spec(title, uirevision, height, **_square_axes_spec(bounds))
    layout["margin"] = dict(SQUARE_MARGIN)
    return dict(data=[heatmap], layout=layout)


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


def loss_spec(
    steps: Sequence[int],
    train_nll: Sequence[float],
    eval_steps: Sequence[int],
    heldout_nll: Sequence[float],
    entropy: float | None = None,
    uirevision: str = "loss",
    title: str = "Negative log-likelihood (nats)",
    packed: bool = True,
    height: int = 360,
) -> dict:
    """Plotly figure dict: training NLL (binned), held-out NLL and the dataset's true-entropy floor with the gap.

    >>> [t["name"] for t in loss_spec([1, 2], [2.0, 1.5], [2], [1.6], entropy=1.0)["data"]]
    ['train (binned)', 'held-out', 'true entropy 1.000 (the floor)']
    >>> loss_spec([], [], [0], [2.0], entropy=1.0)["data"][0]["mode"]  # untrained: the held-out NLL as a dot
    'markers'
    >>> loss_spec([1, 2], [2.0, 1.5], [2], [1.6], entropy=1.0)["layout"]["title"]["text"]
    'Negative log-likelihood (nats) · gap to the floor +0.600'

    The legend's names stay fixed while training (a changing legend costs the browser a full legend redraw);
    the changing gap is in the title.
    """
    traces = []
    if len(steps):
        sx, sy = binned_mean(steps, train_nll, bins=150)
        traces.append(
            dict(
                type="scatter",
                x=packed_array(sx, packed),
                y=packed_array(sy, packed),
                mode="lines",
                name="train (binned)",
                line=dict(color=TRAIN_COLOR),
            )
        )
    if len(eval_steps):
        ex, ey = downsample_curve(eval_steps, heldout_nll, max_points=200)
        if entropy is not None:
            title = f"{title} · gap to the floor {heldout_nll[-1] - entropy:+.3f}"
        traces.append(
            dict(
                type="scatter",
                x=packed_array(np.asarray(ex, dtype=float), packed),
                y=packed_array(ey, packed),
                mode="lines" if len(ex) > 1 else "markers",  # before training: one point, shown as a dot
                name="held-out",
                line=dict(color=HELDOUT_COLOR, width=3),
            )
        )
    if entropy is not None:
        right = max(steps[-1] if len(steps) else 1, 1)
        traces.append(
            dict(
                type="scatter",
                x=[0, right],
                y=[entropy, entropy],
                mode="lines",
                name=f"true entropy {entropy:.3f} (the floor)",
                line=dict(color=FLOOR_COLOR, dash="dash", width=2),
                hoverinfo="skip",
            )
        )
    yaxis = axis_spec(showgrid=True, gridcolor="#eee")
    values = [v for v in list(heldout_nll) + ([entropy] if entropy is not None else []) if np.isfinite(v)]
    if len(train_nll):
        tail = np.asarray(train_nll[-200:], dtype=float)
        values += tail[np.isfinite(tail)].tolist()
    if values:
        lo, hi = min(values), max(values)
        if len(heldout_nll):
            hi = min(hi, max(heldout_nll[-1] + 1.5, (entropy or lo) + 1.5))
        pad = 0.08 * (hi - lo + 1e-3)
        yaxis["range"] = [lo - pad, hi + pad]
    xaxis = axis_spec(title=dict(text="step"), showgrid=True, gridcolor="#eee")
    return dict(data=traces, layout=layout_spec(title, uirevision, height=height, xaxis=xaxis, yaxis=yaxis))
