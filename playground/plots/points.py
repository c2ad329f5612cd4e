"""Figures of the "Your own points" page: arrays in, ``go.Figure`` out, all on one per-axis window with the user's
column names as axis titles (columns in different units each fill their axis; nothing is squashed into a band).

>>> import numpy as np
>>> from playground.views.points import display_window
>>> pts = np.random.default_rng(0).normal(size=(50, 2))
>>> fig = points_figure(pts, display_window(pts), ("longitude", "latitude"))
>>> fig.layout.xaxis.title.text, fig.layout.yaxis.title.text
('longitude', 'latitude')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.views.points import Window

__all__ = ["points_figure", "density_figure", "scores_figure", "history_figure"]

HEIGHT = 460
DATA_COLOR = "rgba(70, 70, 70, 0.55)"
SAMPLE_COLOR = "rgba(230, 85, 13, 0.6)"
FONT = dict(size=15)
# the legend on a line of its own between the title and the plot, from the left: on the title's line (right-aligned)
# it ran into a long title on a phone-wide chart
LEGEND_UNDER_TITLE = dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0.0)
LEGEND_UNDER_TITLE_TOP = 84


def _title_on_top(text: str) -> dict:
    """A chart title at the top of the figure, over the legend's own line (``LEGEND_UNDER_TITLE``)."""
    return dict(text=text, x=0.02, font=dict(size=17), yref="container", y=0.985, yanchor="top")


def _layout(fig: go.Figure, window: Window | None, names: Sequence[str], title: str, uirevision: str) -> go.Figure:
    axis = dict(showgrid=False, zeroline=False, ticks="outside", linecolor="#bbb")
    xaxis, yaxis = dict(axis, title=dict(text=names[0])), dict(axis, title=dict(text=names[1]))
    if window is not None:
        xaxis["range"], yaxis["range"] = list(window.x), list(window.y)
    fig.update_layout(
        title=_title_on_top(title),
        font=FONT,
        height=HEIGHT,
        margin=dict(l=70, r=20, t=LEGEND_UNDER_TITLE_TOP, b=60),
        xaxis=xaxis,
        yaxis=yaxis,
        plot_bgcolor="white",
        uirevision=uirevision,
        legend=LEGEND_UNDER_TITLE,
    )
    return fig


def _cloud(points: np.ndarray, name: str, color: str, size: int = 5, hover: str | None = None) -> go.Scattergl:
    return go.Scattergl(
        x=points[:, 0], y=points[:, 1], mode="markers", name=name, marker=dict(size=size, color=color), hoverinfo=hover
    )


def points_figure(
    points: np.ndarray,
    window: Window,
    names: Sequence[str],
    samples: np.ndarray | None = None,
    title: str = "Your points",
    uirevision: str = "preview",
) -> go.Figure:
    """The user's points (and, given ``samples``, the model's samples in orange) on the page's window."""
    fig = go.Figure([_cloud(points, "your points", DATA_COLOR)])
    if samples is not None:
        fig.add_trace(_cloud(samples, "model samples", SAMPLE_COLOR))
    return _layout(fig, window, names, title, uirevision)


def density_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    log_density: np.ndarray,
    window: Window,
    names: Sequence[str],
    points: np.ndarray | None = None,
    title: str = "Model log-density log p(x)",
) -> go.Figure:
    """Heatmap of ``log_density[iy, ix]`` (colour floor 12 nats below the top), optionally with the points on top.

    >>> from playground.views.points import Window
    >>> w = Window((0.0, 1.0), (0.0, 1.0), np.array([]))
    >>> density_figure(np.linspace(0, 1, 3), np.linspace(0, 1, 2), np.zeros((2, 3)), w, ("a", "b")).data[0].type
    'heatmap'
    """
    finite = log_density[np.isfinite(log_density)]
    zmax = float(finite.max()) if finite.size else 0.0
    zmin = max(float(np.quantile(finite, 0.05)) if finite.size else -1.0, zmax - 12.0)
    fig = go.Figure(
        go.Heatmap(
            x=xs,
            y=ys,
            z=np.nan_to_num(log_density, nan=zmin, neginf=zmin, posinf=zmax),
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            colorbar=dict(title=dict(text="log p"), thickness=14),
            hovertemplate=f"{names[0]} %{{x:.4g}}<br>{names[1]} %{{y:.4g}}<br>log p %{{z:.2f}}<extra></extra>",
        )
    )
    if points is not None:
        fig.add_trace(_cloud(points, "your points", "rgba(255, 255, 255, 0.55)", size=3, hover="skip"))
        fig.update_layout(showlegend=False)
    return _layout(fig, window, names, title, "density")


def scores_figure(
    points: np.ndarray,
    log_density: np.ndarray,
    flagged: np.ndarray,
    window: Window,
    names: Sequence[str],
    row_numbers: np.ndarray | None = None,
    title: str = "Every point coloured by log p(x); flagged points ringed in red",
) -> go.Figure:
    """Points coloured by log-density, the flagged ones ringed; hovering shows the file's row number."""
    lo = float(np.quantile(log_density, 0.01)) if len(log_density) else 0.0
    rows = np.arange(1, len(points) + 1) if row_numbers is None else np.asarray(row_numbers)
    fig = go.Figure(
        go.Scattergl(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            name="points",
            customdata=rows,
            marker=dict(
                size=6,
                color=np.maximum(log_density, lo),
                colorscale="Viridis",
                colorbar=dict(title=dict(text="log p"), thickness=14),
            ),
            hovertemplate=(
                f"row %{{customdata}}<br>{names[0]} %{{x:.4g}}<br>{names[1]} %{{y:.4g}}"
                "<br>log p %{marker.color:.2f}<extra></extra>"
            ),
        )
    )
    flagged = np.asarray(flagged, dtype=bool)
    fig.add_trace(
        go.Scattergl(
            x=points[flagged, 0],
            y=points[flagged, 1],
            mode="markers",
            name=f"flagged ({int(flagged.sum())})",
            marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color="red", width=2)),
            hoverinfo="skip",
        )
    )
    return _layout(fig, window, names, title, "scores")


def history_figure(
    steps: Sequence[int],
    train_nll: Sequence[float],
    validation_steps: Sequence[int],
    validation_nll: Sequence[float],
    gaussian_nll: float | None = None,
    best_step: int | None = None,
) -> go.Figure:
    """Training and validation NLL against steps, with the Gaussian baseline and the step whose weights were kept.

    >>> history_figure([1, 2], [3.0, 2.0], [2], [2.5], gaussian_nll=2.8, best_step=2).data[1].name
    'validation'
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(steps), y=list(train_nll), name="training (batch)", line=dict(color="#9ecae1")))
    fig.add_trace(go.Scatter(x=list(validation_steps), y=list(validation_nll), name="validation", mode="lines+markers"))
    if gaussian_nll is not None:
        fig.add_hline(y=gaussian_nll, line=dict(color="#777", dash="dash"), annotation_text="full-covariance Gaussian")
    if best_step is not None:
        fig.add_vline(x=best_step, line=dict(color="#2ca02c", dash="dot"), annotation_text="kept weights")
    finite = [v for v in [*validation_nll, *(train_nll[-50:] if len(train_nll) else [])] if np.isfinite(v)]
    if gaussian_nll is not None and np.isfinite(gaussian_nll):
        finite.append(gaussian_nll)
    fig.update_layout(
        title=_title_on_top("Negative log-likelihood (nats) while fitting"),
        font=FONT,
        height=360,
        margin=dict(l=70, r=20, t=LEGEND_UNDER_TITLE_TOP, b=50),
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="NLL (nats)")),
        plot_bgcolor="white",
        legend=LEGEND_UNDER_TITLE,
    )
    if finite:  # the early steps' huge losses should not flatten the interesting part
        lo, hi = min(finite), max(finite)
        pad = 0.1 * (hi - lo + 1e-3)
        fig.update_yaxes(range=[lo - pad, hi + pad])
    return fig
