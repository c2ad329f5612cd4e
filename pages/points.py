"""Your own points: upload, paste or click a 2-D point cloud, fit a flow to it that you can trust, and score every
row of your file.

Streamlit only. The fit is `realnvp.fit_points` (on a thread: `playground.serving.fitting`), the windows and the
score table `playground.views.points`, the figures `playground.plots.points`.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

from playground.components.click_canvas import click_canvas
from playground.components.live_view import BIG_FONT_CSS
from playground.components.shell import ensure_app_shell
from playground.plots import points as plots
from playground.serving.fitting import FitJob
from playground.serving.runtime import session_id, training_slots
from playground.settings import UPLOAD_MAX_MB, UPLOAD_MAX_POINTS
from playground.state import FittedPoints, PointsPageState
from playground.views.points import display_window, grid, score_rows, scored_csv, unflagged_csv
from realnvp.datasets.points import PointsError, load_points

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

st.html(BIG_FONT_CSS)
st.title("Your own points")
st.caption(
    "Upload a CSV/TSV/NPY/JSON file, paste numbers, or click to draw a point cloud; pick the two columns, fit a "
    "RealNVP to them and see how likely the model finds every row of your file. Files up to "
    f"{UPLOAD_MAX_MB} MB; more than {UPLOAD_MAX_POINTS:,} points are subsampled. Nothing you upload is stored."
)

ss = st.session_state
page: PointsPageState = ss.setdefault("points_page", PointsPageState())


# -- loading --------------------------------------------------------------------------------------------------------
def try_load(raw, filename: str, source: str, columns=None) -> None:
    """Parse a user's data; on failure keep whatever was loaded (and fitted) before and say why."""
    try:
        points, report = load_points(
            raw, columns=columns, filename=filename, max_points=UPLOAD_MAX_POINTS, max_bytes=UPLOAD_MAX_MB * 2**20
        )
    except PointsError as err:
        page.error = f"Could not use {source}: {err}"
        return
    page.error = None
    page.candidate = dict(points=points, report=report, source=source, raw=raw, filename=filename)
    ss["pts-col-x"], ss["pts-col-y"] = report.columns_used


def on_upload() -> None:
    file = ss.get("pts-upload")
    if file is not None:
        try_load(file.getvalue(), file.name, f"“{file.name}”")


def on_paste() -> None:
    try_load(ss.get("pts-paste-text", "").encode("utf-8"), "pasted.txt", "the pasted text")


def on_canvas_click() -> None:
    event = ss.get("pts-canvas")
    click = event.get("click") if isinstance(event, dict) else getattr(event, "click", None)
    if click is not None:
        page.clicked.append([float(click[0]), float(click[1])])


def use_clicked() -> None:
    buf = io.BytesIO()
    np.savetxt(buf, np.asarray(page.clicked, dtype=float).reshape(-1, 2), delimiter=",", header="x,y", comments="")
    try_load(buf.getvalue(), "clicked.csv", "the clicked points")


def on_columns() -> None:
    """The x or y picker changed: re-read the file with those two columns (the previous data stay on failure)."""
    c = page.candidate
    x, y = ss.get("pts-col-x"), ss.get("pts-col-y")
    if c is None or (x, y) == tuple(c["report"].columns_used):
        return
    if x == y:
        page.error = f"x and y are both “{x}”: pick two different columns."
    else:
        try_load(c["raw"], c["filename"], c["source"], columns=(x, y))
    if page.candidate is c:  # refused: the pickers go back to the columns in use
        ss["pts-col-x"], ss["pts-col-y"] = c["report"].columns_used


def swap_columns() -> None:
    ss["pts-col-x"], ss["pts-col-y"] = ss.get("pts-col-y"), ss.get("pts-col-x")
    on_columns()


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
    click_canvas(page.clicked, key="pts-canvas", on_click=on_canvas_click)
    c1, c2, c3 = st.columns(3)
    c1.button("Undo", key="pts-undo", on_click=lambda: page.clicked and page.clicked.pop())
    c2.button("Clear", key="pts-clear", on_click=lambda: page.clicked.clear())
    c3.button(f"Use these {len(page.clicked)} points", key="pts-click-use", on_click=use_clicked)

if page.error:
    st.error(page.error, icon=":material/error:")
    if page.candidate is not None or page.fitted is not None:
        st.caption("Your previous data and any model fitted to it are kept.")

candidate = page.candidate
if candidate is None and page.fitted is None:
    st.info("No data yet: upload a file, paste numbers or click some points.")
    st.stop()


# -- preview: columns, window ---------------------------------------------------------------------------------------
def start_fit() -> None:
    c = page.candidate
    report = c["report"]
    job = FitJob(
        c["points"],
        seed=int(ss.get("pts-seed", 0)),
        budget_s=float(ss.get("pts-budget", 20)),
        slots=training_slots(),
        session=session_id(),
    )
    page.job_data = FittedPoints(
        None, c["points"], tuple(report.columns_used), report.row_numbers, report.table, c["source"], c["filename"]
    )
    page.job = job.start()


if candidate is not None:
    report = candidate["report"]
    names = tuple(report.columns_used)
    st.subheader(f"Preview: {len(candidate['points']):,} points from {candidate['source']}")
    cols = list(report.available_columns)
    p1, p2, p3 = st.columns([3, 3, 1], vertical_alignment="bottom")
    p1.selectbox("x column", cols, key="pts-col-x", on_change=on_columns)
    p2.selectbox("y column", cols, key="pts-col-y", on_change=on_columns)
    p3.button("Swap x ↔ y", key="pts-swap", on_click=swap_columns, icon=":material/swap_horiz:")
    window = display_window(candidate["points"])
    prev, rep = st.columns([3, 2])
    shown = candidate["points"][:: max(1, len(candidate["points"]) // 3000)]  # an even spread of ≤ ~3,000
    prev.plotly_chart(
        plots.points_figure(shown, window, names, title="Your points"), key="pts-preview", width="stretch"
    )
    rep.markdown("**What was read**")
    rep.code(report.summary(), language=None, wrap_lines=True)
    if len(window.outside):
        rows = report.row_numbers[window.outside]
        listing = ", ".join(str(r) for r in rows[:12]) + (" …" if len(rows) > 12 else "")
        rep.caption(
            f"{len(rows):,} far-out point{'s' if len(rows) != 1 else ''} lie outside the view (the view is set by "
            f"the central 98% of each column, so a few outliers cannot squash it): row{'s' if len(rows) != 1 else ''} "
            f"{listing}. They are fitted and scored like every other point."
        )
    with st.expander("Fit settings"):
        s1, s2 = st.columns(2)
        s1.slider("Time budget (seconds)", 3, 120, 20, key="pts-budget")
        s2.number_input("Seed (split, initialisation, batches)", 0, 2**31 - 1, 0, key="pts-seed")
        st.caption(
            "The fit holds out a validation split of your rows, stops early and keeps the weights that did best "
            "on it, scales the flow and the batch to the size of your data, and starts from the full-covariance "
            "Gaussian of your points, so it never ends worse than that Gaussian on the validation rows."
        )
    running = page.job is not None and page.job.running
    st.button(
        "Fit a flow to these columns",
        key="pts-fit",
        type="primary",
        on_click=start_fit,
        disabled=running,
        icon=":material/play_arrow:",
    )


# -- a fit in progress ----------------------------------------------------------------------------------------------
def finish_job() -> None:
    job, data = page.job, page.job_data
    page.job, page.job_data = None, None
    if job.error is not None:
        page.error = f"The fit did not finish: {job.error}"
    elif job.result is not None:
        data.fit = job.result
        page.fitted = data


@st.fragment(run_every=0.5 if (page.job is not None and page.job.running) else None)
def fit_progress() -> None:
    job = page.job
    if job is None:
        return
    if not job.running:
        finish_job()
        st.rerun()
    info = job.progress
    budget = float(job.fit_options.get("budget_s") or 0)
    elapsed = float(_field(info, "elapsed_s", 0.0) or 0.0)
    box = st.container(border=True, key="pts-progress")
    box.progress(min(elapsed / budget, 1.0) if budget else 0.0, text=_progress_text(info, budget))
    box.button("Stop (keep the best so far)", key="pts-stop", on_click=job.stop, icon=":material/stop:")


def _field(info, name: str, default=None):
    if info is None:
        return default
    return info.get(name, default) if isinstance(info, dict) else getattr(info, name, default)


def _progress_text(info, budget: float) -> str:
    if info is None:
        return "Starting the fit (waiting for a free training slot if the server is busy)…"
    step, val = _field(info, "step", 0), _field(info, "best_validation_nll")
    which = f"size {_field(info, 'candidate', 0) + 1} of {_field(info, 'candidates', 1)}"
    flow = f"{_field(info, 'layers', '?')}×{_field(info, 'hidden', '?')}"
    text = f"Fitting ({which}: {flow} flow): step {int(step):,}, {float(_field(info, 'elapsed_s', 0.0)):.0f} of {budget:.0f} s"
    return text + (f", best validation NLL {float(val):.3f} nats" if val is not None else "")


fit_progress()

fitted = page.fitted
if fitted is None:
    if page.job is None:
        st.caption("Press **Fit a flow** to fit; it takes the time budget (20 s by default) or less.")
    st.stop()


# -- the fit --------------------------------------------------------------------------------------------------------
fit, names = fitted.fit, fitted.names
st.divider()
st.subheader(f"A flow fitted to {fitted.source}: {names[0]} (x) and {names[1]} (y)", anchor="fit")
config = fit.config
m1, m2, m3, m4 = st.columns(4)
with m1.container(key="pts-heldout-nll"):
    st.metric("Validation NLL (nats)", f"{fit.heldout_nll:.3f}", help="Rows the flow never trained on.")
m2.metric(
    "Full-covariance Gaussian",
    f"{fit.gaussian_nll:.3f}",
    delta=f"{fit.heldout_nll - fit.gaussian_nll:+.3f} flow − Gaussian",
    delta_color="inverse",
    help="The same validation rows scored by one Gaussian fitted to the training rows: the floor a fit must beat.",
)
m3.metric("Steps (weights kept from step)", f"{config.steps_run:,} ({config.best_step:,})")
m4.metric("Rows (train / validation)", f"{len(fit.train_index):,} / {len(fit.validation_index):,}")
for warning in fit.warnings:
    st.warning(warning, icon=":material/warning:")
with st.expander("What the fit chose, and why", expanded=any(h > 0 for h in config.dequantize)):
    st.markdown("\n".join(f"- {reason}" for reason in config.reasons))

window = display_window(fitted.points)
xs, ys, cells = grid(window, 90)
log_p_grid = fit.log_prob(cells).reshape(len(ys), len(xs))
left, right = st.columns(2)
left.plotly_chart(
    plots.density_figure(
        xs, ys, log_p_grid, window, names, points=fitted.points[:: max(1, len(fitted.points) // 1500)]
    ),
    key="pts-density",
    width="stretch",
)
samples = fit.sample(min(len(fitted.points), 2000), seed=0)
right.plotly_chart(
    plots.points_figure(
        fitted.points[:: max(1, len(fitted.points) // 2000)],
        window,
        names,
        samples=samples,
        title="Your points (grey) and the model's samples (orange)",
        uirevision="samples",
    ),
    key="pts-samples",
    width="stretch",
)
history = fit.history
st.plotly_chart(
    plots.history_figure(
        history.steps,
        history.train_nll,
        history.steps,
        history.validation_nll,
        gaussian_nll=fit.gaussian_nll,
        best_step=config.best_step,
    ),
    key="pts-history",
    width="stretch",
)


# -- every row scored -----------------------------------------------------------------------------------------------
st.subheader("Every row of your file, scored")
q = st.slider(
    "Flag rows less likely than this share of the validation rows (%)",
    0.1,
    10.0,
    1.0,
    step=0.1,
    key="pts-quantile",
    help="Calibrated on rows the model did not train on: about this share of ordinary rows gets flagged.",
)
log_p = fit.log_prob(fitted.points)
rows = score_rows(log_p, fitted.row_numbers, fit.validation_log_prob, q / 100.0, table=fitted.table)
flag_mask = log_p < rows.threshold
with st.container(key="pts-flagged"):
    st.metric(
        "Flagged rows",
        f"{rows.n_flagged:,}",
        help=f"log p(x) below {rows.threshold:.2f} nats, the {q:g}th percentile of the validation rows' log p.",
    )
st.plotly_chart(
    plots.scores_figure(fitted.points, log_p, flag_mask, window, names, fitted.row_numbers),
    key="pts-scores",
    width="stretch",
)
st.caption(
    f"“row” is the row number in your file as a spreadsheet shows it; every column of the file is kept. "
    f"A row is flagged when its log p(x) is below {rows.threshold:.2f} nats."
)
st.dataframe(rows.table, height=360, key="pts-score-table")
stem = Path(str(fitted.filename)).stem or "points"


def model_bytes(fit=fit) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        fit.save(path)
        return path.read_bytes()


d1, d2, d3 = st.columns(3)
d1.download_button(
    "Scored file (.csv)",
    data=lambda r=rows: scored_csv(r),
    file_name=f"{stem}-scored.csv",
    mime="text/csv",
    on_click="ignore",
    key="pts-download-scores",
    icon=":material/download:",
)
d2.download_button(
    f"File without the {rows.n_flagged:,} flagged rows (.csv)",
    data=lambda r=rows: unflagged_csv(r),
    file_name=f"{stem}-unflagged.csv",
    mime="text/csv",
    on_click="ignore",
    key="pts-download-unflagged",
    icon=":material/download:",
)
d3.download_button(
    "Model (.safetensors)",
    data=model_bytes,
    file_name=f"{stem}-flow.safetensors",
    mime="application/octet-stream",
    on_click="ignore",
    key="pts-download-model",
    icon=":material/download:",
    help="python -m realnvp sample FILE.safetensors -n 1000 -o samples.csv",
)
if st.button("Open this model on the Layer-by-layer page", key="pts-open-layers", icon=":material/layers:"):
    ss["layers-source"] = "points"
    st.switch_page("pages/layers.py")
