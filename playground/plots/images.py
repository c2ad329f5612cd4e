"""Arrays in, pictures out: image grids for ``st.image`` and Plotly figures for the image-flow page.

No streamlit and no model code here: every function takes images as arrays (or tensors) shaped
``(N, C, H, W)`` with values in ``[0, 1]`` and returns a ``uint8`` array or a ``plotly`` figure.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["to_uint8", "image_grid", "heatmap_figure"]


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
