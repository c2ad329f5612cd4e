"""Your own points: upload, paste or click a 2-D point cloud, fit a flow to it and score every point."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from playground.components.click_canvas import click_canvas
from playground.components.live_view import BIG_FONT_CSS, LiveView
from playground.components.shell import ensure_app_shell
from playground.plots import live as plots
from playground.serving.runtime import current_device
from playground.settings import UPLOAD_MAX_MB, UPLOAD_MAX_POINTS
from playground.state import PlaygroundState
from playground.views.points import score_points, split_points
from realnvp.datasets.points import PointsError, load_points

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

st.html(BIG_FONT_CSS)
st.title("Your own points")
st.caption(
    "Upload a CSV/TSV/NPY/JSON file, paste numbers, or click to draw a point cloud; then fit a RealNVP to it and see "
    f"how likely the model finds every point. Files up to {UPLOAD_MAX_MB} MB; more than {UPLOAD_MAX_POINTS:,} points "
    "are subsampled. Nothing you upload is stored on the server."
)

ss = st.session_state
ss.setdefault("pts-candidate", None)  # dict(points, report, source, raw, filename) — the previewed data
ss.setdefault("pts-clicked", [])
ss.setdefault("pts-error", None)


def try_load(raw, filename: str, source: str, columns=None) -> None:
    """Parse a user's data; on failure keep whatever was loaded before and show why."""
    try:
        points, report = load_points(
            raw, columns=columns, filename=filename, max_points=UPLOAD_MAX_POINTS, max_bytes=UPLOAD_MAX_MB * 2**20
        )
    except PointsError as err:
        ss["pts-error"] = f"Could not use {source}: {err}"
        return
    ss["pts-error"] = None
    ss["pts-candidate"] = dict(points=points, report=report, source=source, raw=raw, filename=filename)


def on_upload() -> None:
    file = ss.get("pts-upload")
    if file is not None:
        try_load(file.getvalue(), file.name, f"“{file.name}”")


def on_paste() -> None:
    text = ss.get("pts-paste-text", "")
    try_load(text.encode("utf-8"), "pasted.txt", "the pasted text")


def on_canvas_click() -> None:
    click = ss.get("pts-canvas", {}).get("click") if isinstance(ss.get("pts-canvas"), dict) else None
    if click is None:
        click = getattr(ss.get("pts-canvas"), "click", None)
    if click is not None:
        ss["pts-clicked"].append([float(click[0]), float(click[1])])


def use_clicked() -> None:
    pts = np.asarray(ss["pts-clicked"], dtype=float).reshape(-1, 2)
    buf = io.BytesIO()
    np.savetxt(buf, pts, delimiter=",", header="x,y", comments="")
    try_load(buf.getvalue(), "clicked.csv", "the clicked points")


source_tabs = st.tabs(["Upload a file", "Paste numbers", "Click to add points"])
with source_tabs[0]:
    st.file_uploader(
        "CSV, TSV, other delimited text, .npy or .json",
        type=["csv", "tsv", "txt", "dat", "npy", "json"],
        key="pts-upload",
        on_change=on_upload,
        max_upload_size=UPLOAD_MAX_MB,
    )
with source_tabs[1]:
    st.text_area("One point per line, e.g. `0.5, 1.2`", key="pts-paste-text", height=150)
    st.button("Use pasted points", key="pts-paste-use", on_click=on_paste)
with source_tabs[2]:
    st.caption("Click inside the square to add points (window −4…4 on both axes); at least 10 are needed.")
    click_canvas(ss["pts-clicked"], key="pts-canvas", on_click=on_canvas_click)
    c1, c2, c3 = st.columns(3)
    c1.button("Undo", key="pts-undo", on_click=lambda: ss["pts-clicked"] and ss["pts-clicked"].pop())
    c2.button("Clear", key="pts-clear", on_click=lambda: ss["pts-clicked"].clear())
    c3.button(f"Use these {len(ss['pts-clicked'])} points", key="pts-click-use", on_click=use_clicked)

if ss["pts-error"]:
    st.error(ss["pts-error"], icon=":material/error:")
    if ss["pts-candidate"] is not None:
        st.caption("Your previous data and any model trained on it are kept.")

candidate = ss["pts-candidate"]
if candidate is None:
    st.info("No data yet: upload a file, paste numbers or click some points.")
    st.stop()

report = candidate["report"]
st.subheader(f"Preview: {len(candidate['points']):,} points from {candidate['source']}")
if len(report.available_columns) > 2:
    cols = report.available_columns
    p1, p2, p3 = st.columns([2, 2, 1])
    cx = p1.selectbox("x column", cols, index=cols.index(report.columns_used[0]), key="pts-col-x")
    cy = p2.selectbox("y column", cols, index=cols.index(report.columns_used[1]), key="pts-col-y")
    if p3.button("Use these columns", key="pts-cols-apply") and (cx, cy) != tuple(report.columns_used):
        try_load(candidate["raw"], candidate["filename"], candidate["source"], columns=(cx, cy))
        st.rerun()
prev, rep = st.columns([3, 2])
prev.plotly_chart(
    plots.points_figure(
        candidate["points"][:: max(1, len(candidate["points"]) // 2000)],  # an even spread of ≤ ~2,000: quick to draw
        None,
        title="Your points" if len(candidate["points"]) <= 2000 else "Your points (an even subset is drawn)",
    ),
    key="pts-preview",
    width="stretch",
)
rep.markdown("**What was done**")
rep.code(report.summary(), language=None, wrap_lines=True)


def train_on_candidate() -> None:
    train, heldout = split_points(candidate["points"], heldout_fraction=0.2, seed=0)
    state = ss.get("points_playground")
    if state is None:
        state = PlaygroundState(device=current_device())
        ss["points_playground"] = state
    state.stop_training()
    state.custom_points = (train, heldout)
    state.custom_name = str(candidate["filename"]).rsplit(".", 1)[0][:40] or "your points"
    state.reset(f"Training on {len(train):,} of your points; {len(heldout):,} held out to measure the fit.")


st.button("Train on these", key="pts-train", type="primary", on_click=train_on_candidate)

state = ss.get("points_playground")
if state is None or state.trainer is None:
    st.stop()

st.divider()
st.subheader(f"Fitting a flow to “{state.custom_name}”")
view = LiveView(state, prefix="pts-", widget_prefix="pts-")
controls, main = st.columns([1, 3.2], gap="medium")
with controls:
    view.controls(data_controls=False, presets=False)
with main:
    view.transport()
    view.live()

trainer = state.trainer
if trainer.step_count > 0 and not state.playing:
    st.subheader("Every point scored")
    all_points = np.concatenate([trainer.train_points, trainer.heldout_points])
    quantile = st.slider(
        "Flag the least likely share of points", 0.0, 0.2, 0.02, step=0.005, format="%.3f", key="pts-threshold"
    )
    scores = score_points(trainer.log_prob, all_points, quantile)
    left, right = st.columns([3, 2])
    left.plotly_chart(
        plots.scores_figure(all_points, scores.log_density, scores.threshold), key="pts-scores", width="stretch"
    )
    right.markdown(
        f"Held-out NLL **{trainer.history.heldout_nll[-1]:.3f} nats** on {len(trainer.heldout_points):,} points "
        f"the model never trained on. Threshold log p(x) ≤ **{scores.threshold:.2f}**: "
        f"{len(scores.flagged)} points flagged."
    )
    right.dataframe(scores.table(all_points), height=300, hide_index=True)
    d1, d2 = st.columns(2)
    d1.download_button(
        "Download cleaned points (.csv)",
        data=lambda p=all_points: "x,y\n" + "\n".join(f"{a:.9g},{b:.9g}" for a, b in p),
        file_name="points-cleaned.csv",
        mime="text/csv",
        on_click="ignore",
        key="pts-download-points",
    )
    d2.download_button(
        "Download scores (.csv)",
        data=lambda p=all_points, s=scores.log_density: (
            "x,y,log_density\n" + "\n".join(f"{a:.9g},{b:.9g},{c:.6g}" for (a, b), c in zip(p, s, strict=True))
        ),
        file_name="points-scores.csv",
        mime="text/csv",
        on_click="ignore",
        key="pts-download-scores",
    )
elif trainer.step_count == 0:
    st.caption("Press Play (or Step) to fit the flow; pause to score every point.")
