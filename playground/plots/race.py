"""Figures of the Race page, as plain Plotly dicts (cheap to rebuild every frame; drawn by the live chart).

- :func:`race_density_specs` — each contestant's log-density on the same window and the same colour scale.
- :func:`race_nll_spec` — held-out NLL against steps and against each contestant's own training seconds, with the
  entropy floor, one colour per contestant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from playground.plots.live import FLOOR_COLOR, axis_spec, density_spec, layout_spec, packed_array
from playground.views.race import WITHIN_NATS, ContestantResult

__all__ = ["CONTESTANT_COLOURS", "race_density_specs", "race_nll_spec"]

CONTESTANT_COLOURS = ("rgb(31, 119, 180)", "rgb(214, 39, 40)", "rgb(44, 160, 44)", "rgb(148, 103, 189)")


def race_density_specs(
    xs: np.ndarray,
    ys: np.ndarray,
    log_ps: Sequence[np.ndarray],
    titles: Sequence[str],
    uirevision: str = "race-density",
    height: int = 380,
) -> list[dict]:
    """One heatmap per contestant over the same grid, with one shared colour range (so colours compare), stated in
    each title.

    >>> specs = race_density_specs(np.arange(3.0), np.arange(2.0), [np.zeros((2, 3)), np.ones((2, 3))], ["A", "B"])
    >>> [s["data"][0]["zmax"] for s in specs], specs[0]["layout"]["xaxis"] == specs[1]["layout"]["xaxis"]
    ([1.0, 1.0], True)
    >>> specs[0]["layout"]["title"]["text"]
    'A · dark 0 → yellow 1.0'

    """
    finite = [lp[np.isfinite(lp)] for lp in log_ps]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    zmax = float(finite.max()) if finite.size else 0.0
    zmin = max(float(np.quantile(finite, 0.05)) if finite.size else -1.0, zmax - 12.0)
    specs = []
    for log_p, title in zip(log_ps, titles, strict=True):
        clipped = np.clip(np.nan_to_num(log_p, nan=zmin, neginf=zmin, posinf=zmax), zmin, zmax)
        spec = density_spec(xs, ys, clipped, uirevision=uirevision, title=title)
        spec["data"][0].update(zmin=zmin, zmax=zmax, showscale=False)
        spec["layout"]["height"] = height
        # the shared colour range, stated once per panel (density_spec's own title would state this grid's)
        spec["layout"]["title"] = dict(
            text=f"{title} · dark {zmin:.0f} → yellow {zmax:.1f}", x=0.02, font=dict(size=15)
        )
        spec["layout"]["margin"] = dict(l=40, r=10, t=48, b=30)
        specs.append(spec)
    return specs


def race_nll_spec(
    results: Sequence[ContestantResult], entropy: float | None, uirevision: str = "race-nll", height: int = 440
) -> dict:
    """Held-out NLL of every contestant against steps (left) and its own training seconds (right), with the floor.

    >>> r = ContestantResult("A", 10, 100, 2.0, (0, 100), (0.0, 2.0), (2.0, 1.2), entropy=1.0)
    >>> spec = race_nll_spec([r], 1.0)
    >>> [t["name"] for t in spec["data"] if t["showlegend"]], spec["data"][1]["xaxis"]
    (['A', 'true entropy 1.000 (the floor)', 'floor + 0.1'], 'x2')
    """
    traces = []
    for i, r in enumerate(results):
        colour = CONTESTANT_COLOURS[i % len(CONTESTANT_COLOURS)]
        nll = np.asarray(r.heldout_nll, dtype=float)
        for axis, x in (("x", np.asarray(r.eval_steps, dtype=float)), ("x2", np.asarray(r.eval_seconds, dtype=float))):
            traces.append(
                dict(
                    type="scatter",
                    x=packed_array(x),
                    y=packed_array(nll),
                    xaxis=axis,
                    yaxis="y",
                    mode="lines" if len(x) > 1 else "markers",
                    name=r.label,
                    legendgroup=r.label,
                    showlegend=axis == "x",
                    line=dict(color=colour, width=3),
                    marker=dict(color=colour),
                )
            )
    values = [v for r in results for v in r.heldout_nll if np.isfinite(v)]
    if entropy is not None:
        right_steps = max([max(r.eval_steps, default=1) for r in results] + [1])
        right_seconds = max([max(r.eval_seconds, default=0.0) for r in results] + [1e-3])
        floors = (
            (entropy, f"true entropy {entropy:.3f} (the floor)", "dash"),
            (entropy + WITHIN_NATS, f"floor + {WITHIN_NATS:g}", "dot"),
        )
        for level, name, dash in floors:
            for axis, right in (("x", right_steps), ("x2", right_seconds)):
                traces.append(
                    dict(
                        type="scatter",
                        x=[0, right],
                        y=[level, level],
                        xaxis=axis,
                        yaxis="y",
                        mode="lines",
                        name=name,
                        legendgroup=name,
                        showlegend=axis == "x",
                        line=dict(color=FLOOR_COLOR, dash=dash, width=2 if dash == "dash" else 1),
                        hoverinfo="skip",
                    )
                )
        values.append(entropy)
    yaxis = axis_spec(showgrid=True, gridcolor="#eee", title=dict(text="held-out NLL (nats)"))
    if values:
        lo, hi = min(values), max(values)
        latest = [r.heldout_nll[-1] for r in results if r.heldout_nll and np.isfinite(r.heldout_nll[-1])]
        if latest:
            hi = min(hi, max(latest) + 1.0)
        pad = 0.06 * (hi - lo + 1e-3)
        yaxis["range"] = [lo - pad, hi + pad]
    layout = layout_spec(
        "Held-out NLL against steps and against each contestant's own training seconds",
        uirevision,
        height=height,
        xaxis=axis_spec(domain=[0.0, 0.47], title=dict(text="steps"), showgrid=True, gridcolor="#eee"),
        xaxis2=axis_spec(domain=[0.53, 1.0], title=dict(text="training seconds"), showgrid=True, gridcolor="#eee"),
        yaxis=yaxis,
    )
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0)  # below the axis titles
    layout["margin"] = dict(l=64, r=16, t=56, b=120)
    return dict(data=traces, layout=layout)
