"""Plotly figure builders for the "Layer by layer" page: results of :mod:`playground.views.layers` in, ``go.Figure`` out.

No Streamlit and no model calls here: every builder takes arrays (or the small dataclasses of
:mod:`playground.views.layers`) and only draws them. Point clouds use ``Scattergl``; every figure sets ``uirevision`` so a
user's zoom survives reruns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.plots.live import FONT_FAMILY
from playground.views.layers import (
    SIGMA_RADII,
    AnimationFrames,
    DensityGrid,
    LatentDiagnostics,
    LikelihoodBreakdown,
    LogDetGrid,
    ScaleShiftCurves,
    SplineCurves,
    animation_bounds,
    square_bounds,
)

__all__ = [
    "PLAY_BUTTON_STYLE",
    "TICK_FONT",
    "talk_style",
    "build_animation_figure",
    "scale_shift_figure",
    "spline_curves_figure",
    "log_det_heatmap_figure",
    "layer_log_det_bar_figure",
    "breakdown_waterfall_figure",
    "point_path_figure",
    "pick_figure",
    "latent_figure",
    "holes_figure",
    "round_trip_figure",
]

# The Playground's type (playground.plots.live): 16 px Source Sans, ticks in the page's own dark text colour.
TEXT_COLOR = "#262730"
FONT = dict(size=16, family=FONT_FAMILY, color=TEXT_COLOR)
TICK_FONT = dict(size=16, family=FONT_FAMILY, color=TEXT_COLOR)
TITLE_SIZE = 18
AXIS_LINE = "#8a8a8a"
TALK_SIZES = dict(font=20, title=24)  # talk mode: read from the back of a room
POINT_COLOURSCALE = "mrybm"  # cyclic: a point's colour is its starting angle
GRID_COLOR = "rgba(110, 110, 110, 0.45)"
CIRCLE_COLOR = "rgb(20, 20, 20)"
STRETCH_SCALE = "RdBu_r"  # red: log|det| > 0 (stretches), blue: < 0 (squeezes)
PICK_COLOR = "rgb(230, 0, 120)"
# Plotly's default button text is nearly invisible on Streamlit's dark theme: give it a light face and dark text.
PLAY_BUTTON_STYLE = dict(bgcolor="#f0f2f6", bordercolor="#7f7f7f", borderwidth=1, font=dict(color="#1f1f1f", size=16))


def _fonts(fig: go.Figure, size: int, title_size: int) -> None:
    """Every text of ``fig`` at ``size`` px in the page's dark text colour (Streamlit's theme greys ticks out)."""
    tick = {**TICK_FONT, "size": size}
    fig.update_layout(font={**FONT, "size": size}, title_font=dict(size=title_size, color=TEXT_COLOR))
    fig.update_xaxes(tickfont=tick, title_font=tick, linecolor=AXIS_LINE, showline=True, ticks="outside")
    fig.update_yaxes(tickfont=tick, title_font=tick, linecolor=AXIS_LINE, showline=True, ticks="outside")
    for trace in fig.data:
        if "colorbar" in trace:
            trace.update(colorbar=dict(tickfont=tick, title=dict(font=tick)))


def _layout(fig: go.Figure, title: str, uirevision: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.02),
        height=height,
        margin=dict(l=10, r=10, t=56, b=10),
        uirevision=uirevision,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    _fonts(fig, FONT["size"], TITLE_SIZE)
    return fig


def talk_style(fig: go.Figure) -> go.Figure:
    """Talk mode: every text of a figure built here bigger (``TALK_SIZES``), in place; returns the figure.

    >>> fig = talk_style(round_trip_figure(["1"], np.array([1e-7]), np.array([1e-6])))
    >>> fig.layout.xaxis.tickfont.size, fig.layout.title.font.size
    (20, 24)
    """
    _fonts(fig, TALK_SIZES["font"], TALK_SIZES["title"])
    if fig.layout.updatemenus:
        fig.update_layout(updatemenus=[dict(font=dict(size=TALK_SIZES["font"]))])
    if fig.layout.sliders:
        fig.update_layout(
            sliders=[dict(font=dict(size=TALK_SIZES["font"]), currentvalue=dict(font=dict(size=TALK_SIZES["font"])))]
        )
    return fig


def _square(fig: go.Figure, bounds: tuple[float, float, float, float] | None, **axis) -> None:
    if bounds is not None:
        fig.update_xaxes(range=[bounds[0], bounds[1]], **axis)
        fig.update_yaxes(range=[bounds[2], bounds[3]], **axis)
    fig.update_yaxes(scaleanchor="x", scaleratio=1, zeroline=False)
    fig.update_xaxes(zeroline=False, constrain="domain")


def _circles(radii: Sequence[float] = SIGMA_RADII, n: int = 97) -> tuple[np.ndarray, np.ndarray]:
    """x and y of circles of the given radii, NaN-separated so one trace draws them all."""
    theta = np.append(np.linspace(0, 2 * np.pi, n), np.nan)
    xs = np.concatenate([r * np.cos(theta) for r in radii])
    ys = np.concatenate([r * np.sin(theta) for r in radii])
    return xs.astype(np.float32), ys.astype(np.float32)


def _lines_xy(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lines, m, d) → NaN-separated x and y arrays for a single line trace."""
    n_lines, m = lines.shape[:2]
    out = np.full((n_lines, m + 1, 2), np.nan, dtype=np.float32)
    out[:, :m] = lines[:, :, :2]
    out = out.reshape(-1, 2)
    return out[:, 0], out[:, 1]


_EMPTY = np.array([np.nan], dtype=np.float32)


def _union_bounds(bounds: tuple[float, float, float, float], half: float) -> tuple[float, float, float, float]:
    """The smallest square window holding ``bounds`` and the square ``[-half, half]²``."""
    x0, x1 = min(bounds[0], -half), max(bounds[1], half)
    y0, y1 = min(bounds[2], -half), max(bounds[3], half)
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    return (cx - r, cx + r, cy - r, cy + r)


# -- 1. the animation ------------------------------------------------------------------------------------------------
# on two lines: side by side on one line they were wider than a phone's plot (the second was cut off)
DIRECTION_LABELS = {"forward": "data → latent<br>(density)", "inverse": "latent → data<br>(sampling)"}
SHORT_DIRECTION = {"forward": "data → latent", "inverse": "latent → data"}


def build_animation_figure(
    anim: AnimationFrames,
    frame_ms: int = 60,
    height: int = 720,
    uirevision: str = "layers-animation",
    point_size: float = 5.0,
    follow: bool = True,
    other: AnimationFrames | None = None,
) -> go.Figure:
    """The animation: points and a carried grid moving through every layer, with Play/Pause and a layer slider.

    Trace 0 is the grid, trace 1 the points (coloured by starting angle), trace 2 the N(0, I) 1σ/2σ/3σ circles,
    drawn in the latent frame only. ``follow=True``: the square axes follow the points (each layer's robust window,
    blended between layers, :func:`~playground.views.layers.animation_bounds`), so the points fill the plot at
    every layer; ``follow=False``: one fixed window for all frames.

    With ``other`` (the other direction's frames) the figure holds both directions, and two buttons above the
    plot switch between them in the browser, without a round trip to the server: frames are named
    ``"<direction>:<f>"`` in a group per direction, each direction has its own Play/Pause (``updatemenus[0]`` and
    ``[1]``) and layer slider (``sliders[0]`` and ``[1]``), and each direction's first frame shows its own and
    hides the other's; ``updatemenus[2]`` holds the two direction buttons.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import animation_frames
    >>> flow, x = RealNVP(2, n_layers=2), np.random.randn(30, 2)
    >>> fig = build_animation_figure(animation_frames(flow, x, n_between=1))
    >>> len(fig.frames), [t.type for t in fig.data], fig.frames[0].layout.xaxis.range == fig.layout.xaxis.range
    (5, ['scattergl', 'scattergl', 'scattergl'], True)
    >>> both = build_animation_figure(animation_frames(flow, x, n_between=1), other=animation_frames(flow, x, "inverse", 1))
    >>> len(both.frames), both.frames[5].name, [b.label for b in both.layout.updatemenus[2].buttons]
    (10, 'inverse:0', ['data → latent<br>(density)', 'latent → data<br>(sampling)'])
    """
    parts = [anim] if other is None else [anim, other]
    two_way = other is not None
    cx, cy = _circles()
    play = dict(frame=dict(duration=frame_ms, redraw=True), fromcurrent=True, transition=dict(duration=0))
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    jump = dict(frame=dict(duration=0, redraw=True), mode="immediate", transition=dict(duration=0))

    def name(part: AnimationFrames, f: int) -> str:
        return f"{part.direction}:{f}" if two_way else str(f)

    def frame_data(part: AnimationFrames, f: int) -> list[go.Scattergl]:
        gx, gy = _lines_xy(part.grid_frames[f])
        pts = part.frames[f]
        show_circles = f == part.latent_frame
        points = go.Scattergl(x=pts[:, 0], y=pts[:, 1])
        if two_way and f == 0:  # entering a direction: its own colours (each point's starting angle)
            points.update(marker=dict(color=part.colour.astype(np.float32)))
        return [
            go.Scattergl(x=gx, y=gy),
            points,
            go.Scattergl(x=cx if show_circles else _EMPTY, y=cy if show_circles else _EMPTY),
        ]

    def title(part: AnimationFrames, f: int) -> str:
        return f"{SHORT_DIRECTION[part.direction]} · {part.frame_titles[f]}" if two_way else part.frame_titles[f]

    frames = []
    for i, part in enumerate(parts):
        windows = animation_bounds(part, follow=follow)
        for f in range(part.n_frames):
            x0, x1, y0, y1 = (float(v) for v in windows[f])
            layout = dict(title_text=title(part, f), xaxis=dict(range=[x0, x1]), yaxis=dict(range=[y0, y1]))
            if two_way and f == 0:  # show this direction's Play/Pause and slider, hide the other's
                mine = [j == i for j in range(len(parts))]
                layout["sliders"] = [dict(visible=v, active=0) for v in mine]
                layout["updatemenus"] = [dict(visible=v) for v in mine] + [dict(active=i)]
            frames.append(
                go.Frame(
                    data=frame_data(part, f),
                    traces=[0, 1, 2],
                    name=name(part, f),
                    group=part.direction if two_way else None,
                    layout=layout,
                )
            )
        if i == 0:
            first_window = windows[0]

    first = frame_data(anim, 0)
    first[0].update(mode="lines", line=dict(color=GRID_COLOR, width=1), hoverinfo="skip", name="grid carried along")
    first[1].update(
        mode="markers",
        name="points",
        marker=dict(
            size=point_size,
            color=anim.colour.astype(np.float32),
            colorscale=POINT_COLOURSCALE,
            cmin=-np.pi,
            cmax=np.pi,
            opacity=0.85,
        ),
        hoverinfo="skip",
    )
    first[2].update(
        mode="lines", line=dict(color=CIRCLE_COLOR, width=2, dash="dash"), name="N(0, I): 1σ, 2σ, 3σ", hoverinfo="skip"
    )
    fig = go.Figure(data=first)
    fig.frames = frames
    menus, sliders = [], []
    # under the plot: the Play/Pause row, then the layer slider across the whole width (beside the buttons it ran
    # into them on a phone-wide plot); the extra 48 px go to the figure, so the plot keeps its size
    top_px = 128 if two_way else 56  # the title, then the two-line direction buttons (their second line: 24 px)
    bottom_px = 168  # the Play/Pause row (48 px), then the slider
    height += 48 + (24 if two_way else 0)
    slider_y = -0.07 - 44 / (height - top_px - bottom_px)
    for i, part in enumerate(parts):
        menus.append(
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=-0.07,
                xanchor="left",
                yanchor="top",
                pad=dict(t=8, r=8),
                showactive=False,
                visible=i == 0,
                buttons=[
                    dict(label="▶ Play", method="animate", args=[part.direction if two_way else None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
                **PLAY_BUTTON_STYLE,
            )
        )
        sliders.append(
            dict(
                active=0,
                visible=i == 0,
                x=0.02,
                len=0.92,  # room for the last label ("latent z") inside the figure
                y=slider_y,
                yanchor="top",
                pad=dict(t=8),
                currentvalue=dict(prefix="after layer: ", font=dict(size=16, color=TEXT_COLOR)),
                font=dict(size=16, color=TEXT_COLOR),
                steps=[
                    dict(method="animate", label=label, args=[[name(part, f)], jump])
                    for f, label in zip(part.key_frames, part.key_labels, strict=True)
                ],
            )
        )
    if two_way:
        menus.append(
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=1.0,
                xanchor="left",
                yanchor="bottom",
                pad=dict(b=6),
                showactive=True,
                active=0,
                buttons=[
                    dict(label=DIRECTION_LABELS[part.direction], method="animate", args=[[name(part, 0)], jump])
                    for part in parts
                ],
                **PLAY_BUTTON_STYLE,
            )
        )
    fig.update_layout(updatemenus=menus, sliders=sliders, showlegend=False)
    _square(fig, tuple(first_window), showgrid=False)
    _layout(fig, title(anim, 0), uirevision, height=height)
    fig.update_layout(
        margin=dict(l=10, r=10, t=top_px, b=bottom_px),
        title=dict(yref="container", y=0.985, yanchor="top"),
    )
    return fig


# -- 2. what one layer does ------------------------------------------------------------------------------------------
def _coord_name(i: int, prefix: str = "x") -> str:
    return prefix + "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in str(i + 1))


def scale_shift_figure(curves: ScaleShiftCurves, uirevision: str = "layers-st") -> go.Figure:
    """``s`` and ``t`` of one coupling against the kept coordinate, with where the layer's input points sit.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import layer_scale_shift_curves
    >>> fig = scale_shift_figure(layer_scale_shift_curves(RealNVP(2, n_layers=2), 0, np.linspace(-1, 1, 9)))
    >>> len(fig.data)
    2
    """
    kept = _coord_name(curves.kept[0])
    rows = 3 if curves.inputs is not None else 2
    heights = [0.42, 0.42, 0.16] if rows == 3 else [0.5, 0.5]
    titles = ["log-scale s(" + kept + "): > 0 stretches, < 0 squeezes", f"shift t({kept})"]
    if rows == 3:
        titles.append(f"where the points entering this layer sit along {kept}")
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=heights, subplot_titles=titles)
    colours = ["rgb(214, 39, 40)", "rgb(31, 119, 180)", "rgb(44, 160, 44)", "rgb(148, 103, 189)"]
    for j, moved in enumerate(curves.transformed):
        name = _coord_name(moved)
        colour = colours[j % len(colours)]
        fig.add_trace(
            go.Scatter(x=curves.kept_values, y=curves.s[:, j], name=f"s for {name}", line=dict(color=colour, width=3)),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=curves.kept_values,
                y=curves.t[:, j],
                name=f"t for {name}",
                line=dict(color=colour, width=3, dash="dot"),
            ),
            row=2,
            col=1,
        )
    fig.add_hline(y=0, line=dict(color="grey", width=1), row=1, col=1)
    fig.add_hline(y=0, line=dict(color="grey", width=1), row=2, col=1)
    if rows == 3:
        fig.add_trace(
            go.Histogram(x=curves.inputs, nbinsx=60, marker=dict(color="rgba(90,90,90,0.5)"), name="points"),
            row=3,
            col=1,
        )
        fig.update_yaxes(showticklabels=False, row=3, col=1)
    fig.update_xaxes(title_text=f"kept coordinate {kept} (layer input)", row=rows, col=1)
    fig.update_annotations(font=dict(size=16, color=TEXT_COLOR))
    _layout(fig, f"Layer {curves.layer_index + 1}: scale and shift as functions of {kept}", uirevision, height=480)
    fig.update_layout(showlegend=False)
    return fig


def spline_curves_figure(curves: SplineCurves, uirevision: str = "layers-spline") -> go.Figure:
    """A spline coupling's map of the moved coordinate, one curve per kept value, over the identity it leaves
    outside ``±tail_bound``; with where the layer's input points sit along the moved coordinate.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import layer_spline_curves
    >>> fig = spline_curves_figure(layer_spline_curves(RealNVP(2, n_layers=2, coupling="spline"), 0, n_curves=3))
    >>> len(fig.data)
    4
    """
    kept, moved = _coord_name(curves.kept[0]), _coord_name(curves.transformed[0])
    rows = 2 if curves.inputs is not None else 1
    titles = [f"{moved}′ = g({moved} | {kept}): slope > 1 stretches, < 1 squeezes"]
    if rows == 2:
        titles.append(f"where the points entering this layer sit along {moved}")
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.82, 0.18] if rows == 2 else [1.0],
        subplot_titles=titles,
    )
    fig.add_trace(
        go.Scatter(
            x=curves.moved_values,
            y=curves.moved_values,
            name="identity",
            line=dict(color="grey", width=1, dash="dot"),
        ),
        row=1,
        col=1,
    )
    n = len(curves.kept_values)
    for i, c in enumerate(curves.kept_values):
        shade = int(40 + 180 * i / max(n - 1, 1))
        fig.add_trace(
            go.Scatter(
                x=curves.moved_values,
                y=curves.outputs[i],
                name=f"{kept} = {c:.2f}",
                line=dict(color=f"rgb({shade}, {90 + shade // 3}, {230 - shade})", width=3),
            ),
            row=1,
            col=1,
        )
    for edge in (-curves.tail_bound, curves.tail_bound):
        fig.add_vline(x=edge, line=dict(color="grey", width=1, dash="dash"))
    if rows == 2:
        fig.add_trace(
            go.Histogram(x=curves.inputs, nbinsx=60, marker=dict(color="rgba(90,90,90,0.5)"), name="points"),
            row=2,
            col=1,
        )
        fig.update_yaxes(showticklabels=False, row=2, col=1)
    fig.update_xaxes(title_text=f"moved coordinate {moved} (layer input); dashed: ±tail bound", row=rows, col=1)
    fig.update_annotations(font=dict(size=16, color=TEXT_COLOR))
    _layout(fig, f"Layer {curves.layer_index + 1}: the spline at a few values of {kept}", uirevision, height=480)
    return fig


def log_det_heatmap_figure(
    grid: LogDetGrid, points: np.ndarray | None = None, uirevision: str = "layers-logdet"
) -> go.Figure:
    """One layer's log|det J| over the plane (red: stretches, blue: squeezes), with the points on top.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import layer_log_det_grid
    >>> log_det_heatmap_figure(layer_log_det_grid(RealNVP(2, n_layers=2), 0, resolution=5)).data[0].type
    'heatmap'
    """
    finite = grid.log_det[np.isfinite(grid.log_det)]
    span = float(np.abs(finite).max()) if finite.size else 1.0
    span = max(span, 1e-3)
    fig = go.Figure(
        go.Heatmap(
            x=grid.xs,
            y=grid.ys,
            z=grid.log_det,
            colorscale=STRETCH_SCALE,
            zmid=0.0,
            zmin=-span,
            zmax=span,
            colorbar=dict(title=dict(text="log|det J|", side="right"), thickness=14),
            hovertemplate="(%{x:.2f}, %{y:.2f})<br>log|det J| = %{z:.3f}<extra></extra>",
        )
    )
    if points is not None:
        fig.add_trace(
            go.Scattergl(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                marker=dict(size=3, color="rgba(20,20,20,0.45)"),
                hoverinfo="skip",
                name="points",
                showlegend=False,
            )
        )
    where = "the data plane (model space)" if grid.space == "data" else "the layer's own input plane"
    bounds = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
    _square(fig, bounds, showgrid=False)
    return _layout(fig, f"Layer {grid.layer_index + 1}: log|det J| over {where}", uirevision, height=480)


def layer_log_det_bar_figure(
    means: np.ndarray, labels: Sequence[str], selected: int | None = None, uirevision: str = "layers-bars"
) -> go.Figure:
    """Each layer's mean log|det J| over the data (their sum is the flow's mean log-det).

    >>> layer_log_det_bar_figure(np.array([0.5, -0.2]), ["1", "2"], selected=0).data[0].type
    'bar'
    """
    colours = ["rgb(214, 39, 40)" if m >= 0 else "rgb(31, 119, 180)" for m in means]
    line_widths = [3 if i == selected else 0 for i in range(len(means))]
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=means,
            marker=dict(color=colours, line=dict(color="black", width=line_widths)),
            text=[f"{m:+.3f}" for m in means],
            textposition="outside",
            hovertemplate="%{x}<br>mean log|det J| = %{y:.4f}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line=dict(color="grey", width=1))
    fig.update_xaxes(title_text="layer", type="category")
    fig.update_yaxes(title_text="mean log|det J| (nats)")
    total = float(np.sum(means))
    return _layout(fig, f"Mean log|det J| per layer over the data · sum = {total:+.3f} nats", uirevision, height=360)


# -- 3. the likelihood of one point ----------------------------------------------------------------------------------
def breakdown_waterfall_figure(breakdown: LikelihoodBreakdown, uirevision: str = "layers-waterfall") -> go.Figure:
    """The terms of ``log p(x)`` as a waterfall: standardisation, each layer, the Gaussian, then the total.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import likelihood_breakdown
    >>> fig = breakdown_waterfall_figure(likelihood_breakdown(RealNVP(2, n_layers=2), None, [0.0, 0.0]))
    >>> list(fig.data[0].measure)[-1]
    'total'
    """
    names = ["log|det S|"] + [f"J{s.index + 1}" for s in breakdown.steps] + ["log N(z)", "log p(x)"]
    values = [v for _, v in breakdown.terms()] + [breakdown.total]
    fig = go.Figure(
        go.Waterfall(
            x=names,
            y=values,
            measure=["relative"] * (len(values) - 1) + ["total"],
            text=[f"{v:+.3f}" for v in values],
            textposition="outside",
            textfont=dict(size=14),
            increasing=dict(marker=dict(color="rgb(214, 39, 40)")),
            decreasing=dict(marker=dict(color="rgb(31, 119, 180)")),
            totals=dict(marker=dict(color="rgb(44, 160, 44)")),
            connector=dict(line=dict(color="grey", width=1)),
            hovertemplate="%{x}: %{y:+.5f} nats<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="nats")
    fig.update_xaxes(type="category")
    return _layout(fig, f"log p(x) = {breakdown.total:.5f} nats, term by term", uirevision, height=400)


def point_path_figure(breakdown: LikelihoodBreakdown, uirevision: str = "layers-path") -> go.Figure:
    """The picked point's path through the layers (model space), from S(x) to z, over the N(0, I) circles.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import likelihood_breakdown
    >>> point_path_figure(likelihood_breakdown(RealNVP(2, n_layers=2), None, [0.0, 1.0])).data[1].mode
    'lines+markers+text'
    """
    path = np.stack([breakdown.x] + [s.after for s in breakdown.steps])[:, :2]
    labels = ["S(x)"] + [str(s.index + 1) for s in breakdown.steps[:-1]] + ["z"]
    cx, cy = _circles()
    fig = go.Figure(
        go.Scatter(x=cx, y=cy, mode="lines", line=dict(color="grey", dash="dash", width=1), name="N(0, I) 1σ, 2σ, 3σ")
    )
    fig.add_trace(
        go.Scatter(
            x=path[:, 0],
            y=path[:, 1],
            mode="lines+markers+text",
            text=labels,
            textposition="top center",
            marker=dict(size=9, color=np.arange(len(path)), colorscale="Viridis"),
            line=dict(color=PICK_COLOR, width=2),
            name="path",
            hovertemplate="(%{x:.4f}, %{y:.4f})<extra>%{text}</extra>",
        )
    )
    bounds = _union_bounds(square_bounds(path, margin=0.6, quantile=0.0), 1.2)
    _square(fig, bounds, showgrid=True)
    fig.update_layout(showlegend=False)
    return _layout(fig, "Its path through the layers (model space)", uirevision, height=400)


def pick_figure(
    density: DensityGrid,
    data: np.ndarray,
    selected: Sequence[float] | None = None,
    uirevision: str = "layers-pick",
    floor_quantile: float = 0.05,
    floor_nats: float = 12.0,
) -> go.Figure:
    """Model log-density (original units) with the data on top; click a data point to pick it.

    The colour scale is floored ``floor_nats`` below the peak (or at the ``floor_quantile``), so the shape of the
    density is visible rather than its far tails.

    Trace 1 holds the data points (what a click selects); the picked point is a star.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import density_grid
    >>> g = density_grid(RealNVP(2, n_layers=2), None, (-3, 3, -3, 3), resolution=10)
    >>> pick_figure(g, np.zeros((4, 2)), selected=(0.0, 0.0)).data[1].name
    'data (click one)'
    """
    log_p = density.log_p
    finite = log_p[np.isfinite(log_p)]
    floor = float(max(np.quantile(finite, floor_quantile), finite.max() - floor_nats)) if finite.size else -10.0
    fig = go.Figure(
        go.Heatmap(
            x=density.xs,
            y=density.ys,
            z=np.maximum(log_p, floor),
            colorscale="Viridis",
            colorbar=dict(title=dict(text="log p(x)", side="right"), thickness=14),
            hovertemplate="(%{x:.2f}, %{y:.2f})<br>log p = %{z:.2f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=data[:, 0],
            y=data[:, 1],
            mode="markers",
            marker=dict(size=5, color="rgba(255,255,255,0.55)", line=dict(color="rgba(0,0,0,0.4)", width=0.5)),
            selected=dict(marker=dict(color=PICK_COLOR, size=9, opacity=1.0)),
            unselected=dict(marker=dict(opacity=0.55)),
            name="data (click one)",
            hovertemplate="(%{x:.3f}, %{y:.3f})<extra>click to pick</extra>",
        )
    )
    if selected is not None:
        fig.add_trace(
            go.Scattergl(  # WebGL like the data, so it is drawn on top of them
                x=[selected[0]],
                y=[selected[1]],
                mode="markers",
                marker=dict(size=20, symbol="star", color=PICK_COLOR, line=dict(color="white", width=1.5)),
                unselected=dict(marker=dict(opacity=1.0)),  # a click elsewhere must not fade the star
                name="picked point",
                hoverinfo="skip",
            )
        )
    bounds = (density.xs[0], density.xs[-1], density.ys[0], density.ys[-1])
    _square(fig, bounds, showgrid=False)
    fig.update_layout(clickmode="event+select", dragmode="pan")
    return _layout(fig, "Click a data point (original units)", uirevision, height=460)


# -- 4. invertibility ------------------------------------------------------------------------------------------------
def round_trip_figure(
    labels: Sequence[str], on_data: np.ndarray, far: np.ndarray, uirevision: str = "layers-roundtrip"
) -> go.Figure:
    """Per-layer round-trip error ``max|f_k⁻¹(f_k(x)) − x|`` on the data and on far-away points (log scale).

    >>> round_trip_figure(["1", "2"], np.array([1e-7, 0.0]), np.array([1e-6, 2e-6])).layout.yaxis.type
    'log'
    """
    floor = 1e-10  # exact zeros would vanish from a log axis
    fig = go.Figure()
    for name, values, colour in (
        ("on the data", on_data, "rgb(31, 119, 180)"),
        ("on far-away grid points", far, "rgb(255, 127, 14)"),
    ):
        fig.add_trace(
            go.Bar(
                x=list(labels),
                y=np.maximum(np.asarray(values, dtype=float), floor),
                name=name,
                marker=dict(color=colour),
                customdata=np.asarray(values, dtype=float),
                hovertemplate="%{x}: %{customdata:.2e}<extra>" + name + "</extra>",
            )
        )
    fig.update_yaxes(type="log", title_text="max abs error")
    fig.update_xaxes(type="category", title_text="layer")
    fig.update_layout(barmode="group")
    return _layout(fig, "Per-layer round-trip error (float32 rounding is ≈ 1e-7)", uirevision, height=340)


# -- 5. latent space and holes ---------------------------------------------------------------------------------------
def latent_figure(diag: LatentDiagnostics, uirevision: str = "layers-latent") -> go.Figure:
    """The data's latents over the N(0, I) circles, each labelled with the expected and observed share inside.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import latent_diagnostics
    >>> latent_figure(latent_diagnostics(RealNVP(2, n_layers=2), np.random.randn(50, 2))).data[0].type
    'scattergl'
    """
    z = diag.z[:, :2]
    fig = go.Figure(
        go.Scattergl(
            x=z[:, 0],
            y=z[:, 1],
            mode="markers",
            marker=dict(size=4, color="rgba(31, 119, 180, 0.5)"),
            name="f(data)",
            hoverinfo="skip",
        )
    )
    cx, cy = _circles(diag.radii)
    fig.add_trace(
        go.Scattergl(
            x=cx,
            y=cy,
            mode="lines",
            line=dict(color=CIRCLE_COLOR, dash="dash", width=2),
            name="N(0, I)",
            hoverinfo="skip",
        )
    )
    for r, inside, expected in zip(diag.radii, diag.inside, diag.expected, strict=True):
        fig.add_annotation(
            x=0.0,
            y=r,
            text=f"{r:g}σ: {inside:.1%} inside (ideal {expected:.1%})",
            showarrow=False,
            xanchor="center",
            yanchor="bottom",
            font=dict(size=15, color=TEXT_COLOR),
            bgcolor="rgba(255,255,255,0.7)",
        )
    bounds = _union_bounds(square_bounds(z, margin=0.08, quantile=0.01), 3.5)  # room for the 3σ label
    _square(fig, bounds, showgrid=True)
    fig.update_layout(showlegend=False)
    return _layout(fig, "The data in latent space, z = f(x)", uirevision, height=460)


def holes_figure(density: DensityGrid, data: np.ndarray | None = None, uirevision: str = "layers-holes") -> go.Figure:
    """Model density (original units) with its "holes" outlined: mass the model puts where the data has none.

    >>> from realnvp import RealNVP
    >>> from playground.views.layers import density_grid
    >>> g = density_grid(RealNVP(2, n_layers=2), None, (-3, 3, -3, 3), resolution=10, data=np.random.randn(50, 2))
    >>> holes_figure(g).data[0].type
    'heatmap'
    """
    p = np.exp(density.log_p)
    fig = go.Figure(
        go.Heatmap(
            x=density.xs,
            y=density.ys,
            z=p,
            colorscale="Blues",
            colorbar=dict(title=dict(text="p(x)", side="right"), thickness=14),
            hovertemplate="(%{x:.2f}, %{y:.2f})<br>p = %{z:.3f}<extra></extra>",
        )
    )
    if density.holes is not None and density.holes.any():
        fig.add_trace(
            go.Contour(
                x=density.xs,
                y=density.ys,
                z=density.holes.astype(float),
                contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                line=dict(color="rgb(230, 85, 13)", width=3),
                showscale=False,
                name="holes",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Heatmap(
                x=density.xs,
                y=density.ys,
                z=np.where(density.holes, 1.0, np.nan),
                colorscale=[[0, "rgba(230, 85, 13, 0.45)"], [1, "rgba(230, 85, 13, 0.45)"]],
                showscale=False,
                hoverinfo="skip",
                name="holes",
            )
        )
    if data is not None:
        fig.add_trace(
            go.Scattergl(
                x=data[:, 0],
                y=data[:, 1],
                mode="markers",
                marker=dict(size=3, color="rgba(0,0,0,0.35)"),
                hoverinfo="skip",
                name="data",
            )
        )
    bounds = (density.xs[0], density.xs[-1], density.ys[0], density.ys[-1])
    _square(fig, bounds, showgrid=False)
    fig.update_layout(showlegend=False)
    title = f"Model density; holes (orange) hold {density.hole_mass:.1%} of its mass"
    return _layout(fig, title, uirevision, height=460)
