"""Arrays in, pictures out: image grids for ``st.image`` and Plotly figures for the image-flow page.

No streamlit and no model code here: every function takes images as arrays (or tensors) shaped
``(N, C, H, W)`` with values in ``[0, 1]`` and returns a ``uint8`` array or a ``plotly`` figure.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from playground.plots.live import HELDOUT_COLOR, TRAIN_COLOR, axis_spec, downsample_curve, layout_spec

__all__ = ["to_uint8", "image_grid", "heatmap_figure", "bpd_spec", "class_scores_figure"]


def to_uint8(images) -> np.ndarray:
    """``(N, C, H, W)`` floats in ``[0, 1]`` -> ``(N, H, W)`` (gray) or ``(N, H, W, 3)`` (RGB) ``uint8``.

    >>> to_uint8(np.ones((2, 1, 3, 3))).shape, to_uint8(np.zeros((1, 3, 2, 2))).shape
    ((2, 3, 3), (1, 2, 2, 3))
    """
    arr = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, 1 or 3, H, W), got {arr.shape}")
    arr = np.clip(arr, 0.0, 1.0) * 255.0 + 0.5
    arr = arr.astype(np.uint8).transpose(0, 2, 3, 1)
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def image_grid(images, ncols: int = 8, zoom: int = 4, pad: int = 1, pad_value: int = 128) -> np.ndarray:
    """Tile images into one picture, each pixel enlarged to ``zoom x zoom`` (crisp, no smoothing).

    >>> image_grid(np.zeros((5, 1, 8, 8)), ncols=4, zoom=2, pad=1).shape
    (35, 69)
    """
    tiles = to_uint8(images)
    n, h, w = tiles.shape[:3]
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    h, w = h * zoom, w * zoom
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad, *tiles.shape[3:])
    grid = np.full(shape, pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = tiles[i]
    return grid


def heatmap_figure(values: np.ndarray, title: str = "", colorbar_title: str = "") -> go.Figure:
    """A 2-D array as a Plotly heatmap with image orientation (row 0 on top) and square pixels.

    >>> heatmap_figure(np.eye(3), "err").layout.yaxis.autorange
    'reversed'
    """
    values = np.asarray(values, dtype=np.float64)
    fig = go.Figure(go.Heatmap(z=values, colorscale="Viridis", colorbar={"title": {"text": colorbar_title}}))
    fig.update_layout(
        title={"text": title},
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"autorange": "reversed", "scaleanchor": "x", "showticklabels": False},
        xaxis={"showticklabels": False, "constrain": "domain"},
    )
    return fig


def bpd_spec(
    steps, train_bpd, eval_steps, val_bpd, reference: dict[str, float] | None = None, uirevision: str = "bpd"
) -> dict:
    """Plotly figure dict of a live image run: training and validation bits/dim against steps, with reference lines.

    >>> spec = bpd_spec([10, 20], [3.0, 2.5], [0, 20], [4.0, 2.4], {"shipped flow": 1.86})
    >>> [t["name"] for t in spec["data"]]
    ['train', 'validation', 'shipped flow 1.86']
    """
    traces = []
    if len(steps):
        sx, sy = downsample_curve(steps, train_bpd, max_points=300)
        traces.append(
            dict(
                type="scatter",
                x=list(map(float, sx)),
                y=list(map(float, sy)),
                mode="lines",
                name="train",
                line=dict(color=TRAIN_COLOR),
            )
        )
    if len(eval_steps):
        ex, ey = downsample_curve(eval_steps, val_bpd, max_points=300)
        traces.append(
            dict(
                type="scatter",
                x=list(map(float, ex)),
                y=list(map(float, ey)),
                mode="lines+markers" if len(ex) < 3 else "lines",
                name="validation",
                line=dict(color=HELDOUT_COLOR, width=3),
            )
        )
    right = max([1, *(list(steps[-1:]) + list(eval_steps[-1:]))])
    for name, value in (reference or {}).items():
        traces.append(
            dict(
                type="scatter",
                x=[0, right],
                y=[value, value],
                mode="lines",
                name=f"{name} {value:.2f}",
                line=dict(color="rgb(44, 160, 44)", dash="dash", width=2),
                hoverinfo="skip",
            )
        )
    values = [
        v for v in list(val_bpd[-50:]) + list(train_bpd[-50:]) + list((reference or {}).values()) if np.isfinite(v)
    ]
    yaxis = axis_spec(title=dict(text="bits/dim"), showgrid=True, gridcolor="#eee")
    if values:
        lo, hi = min(values), max(values)
        hi = min(hi, lo + 3.0)  # the first steps start near log2(K); keep the converging part readable
        pad = 0.08 * (hi - lo + 1e-3)
        yaxis["range"] = [lo - pad, hi + pad]
    xaxis = axis_spec(title=dict(text="step"), showgrid=True, gridcolor="#eee")
    title = "Bits/dim" + (f" · validation {val_bpd[-1]:.3f}" if len(val_bpd) else "")
    return dict(data=traces, layout=layout_spec(title, uirevision, height=340, xaxis=xaxis, yaxis=yaxis))


def class_scores_figure(class_bpd, true_label: int | None = None) -> go.Figure:
    """Bar chart of one image's bits/dim under each class ``y`` (``-log2 P(image | y) / D``); the lowest bar is
    Bayes' rule's answer under a uniform prior and is drawn dark.

    >>> fig = class_scores_figure(np.array([2.5, 1.9, 2.2]), true_label=1)
    >>> list(fig.data[0].x), fig.data[0].marker.color[1]
    (['0', '1', '2'], 'rgb(8, 48, 107)')
    """
    values = np.asarray(class_bpd, dtype=np.float64)
    best = int(values.argmin())
    colors = [HELDOUT_COLOR if k == best else "rgba(49, 130, 189, 0.45)" for k in range(len(values))]
    fig = go.Figure(
        go.Bar(
            x=[str(k) for k in range(len(values))],
            y=values,
            marker={"color": colors},
            hovertemplate="class %{x}: %{y:.3f} bits/dim<extra></extra>",
        )
    )
    lo, hi = float(values.min()), float(values.max())
    title = f"Bits/dim of this image under each class · Bayes' rule says {best}"
    if true_label is not None:
        title += f" (true: {true_label})"
    fig.update_layout(
        title={"text": title},
        height=320,
        margin={"l": 60, "r": 10, "t": 50, "b": 40},
        font={"size": 15},
        yaxis={
            "range": [max(0.0, lo - 0.15 * (hi - lo + 0.1)), hi + 0.05 * (hi - lo + 0.1)],
            "title": {"text": "bits/dim"},
        },
        xaxis={"title": {"text": "class y"}},
        plot_bgcolor="white",
    )
    return fig
