"""Layer by layer: watch each coupling layer move the points, and read the exact likelihood as a sum of parts.

Streamlit only (widgets, layout, session state). The analysis is `playground.views.layers`, the figures `playground.plots.layers`.
Shows the Playground's model when it has trained one (``st.session_state["playground"].trainer``), the model fitted
on "Your own points" (``st.session_state["points_page"].fitted``), a pretrained flow shipped in ``assets/flows2d/``
(loaded once per server, so a fresh session sees a model at once; ``?flow=<name>`` picks one), or a quick model of its
own trained on request and kept in ``st.session_state["layers_model"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from playground.components.shell import ensure_app_shell
from playground.plots import layers as plots
from playground.serving.runtime import configure_process
from playground.views import layers
from playground.views.points import FitForLayers
from realnvp.datasets import DATASETS
from realnvp.training import Trainer

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

configure_process()  # one torch thread per session (idempotent; app.py has usually done it already)

OWN_MODEL = "layers_model"  # this page's own Trainer (None until trained)
MEMO = "layers_memo"  # name -> (key, value): the last result of each expensive call, per session
BUILDS = "layers_figure_builds"  # how many animation figures this session has built (the rest came from a cache)
FIGURES_KEPT = 8  # animation figures kept per model store: both directions of a few settings
FAR_EXTENT = 20.0  # the far-away round-trip grid spans ±20 standardised units
DISPLAY_POINTS = 1500
TALK = bool(st.session_state.get("talk"))  # set from ?talk=1 by the app: bigger type


# -- which model ----------------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def pretrained(name: str) -> Trainer:
    """A shipped flow, loaded once per server and shared read-only by every session (never stepped)."""
    return layers.load_pretrained(name)


@st.cache_resource(show_spinner=False)
def shared_store(name: str) -> dict:
    """The memo of a shipped flow's pictures, shared by every session: they all show the same weights."""
    return {}


def playground_trainer() -> Trainer | None:
    """The Playground's trainer when it has trained a 2-D model; else None."""
    state = st.session_state.get("playground")
    trainer = getattr(state, "trainer", None) if state is not None else None
    if trainer is None or getattr(trainer, "step_count", 0) <= 0 or trainer.model.dim != 2:
        return None
    return trainer


def points_trainer() -> FitForLayers | None:
    """The trainer holding the model fitted on the "Your own points" page (its best weights); else None."""
    page = st.session_state.get("points_page")
    fitted = getattr(page, "fitted", None) if page is not None else None
    if fitted is None:
        return None
    if fitted.for_layers is None:
        fitted.for_layers = FitForLayers(fitted.fit, fitted.points, Path(str(fitted.filename)).stem or "your points")
    return fitted.for_layers


def first_pretrained(flows: dict) -> str:
    """Which shipped flow to open on: ``?flow=`` if it names one, else the Playground's data set, else the first."""
    asked = st.query_params.get("flow")
    if asked in flows:
        return asked
    settings = getattr(st.session_state.get("playground"), "settings", None)
    dataset = getattr(settings, "dataset", None)
    return dataset if dataset in flows else next(iter(flows))


def request_retrain() -> None:
    st.session_state["layers_retrain"] = True


def memo(name: str, key: Any, compute, store: dict | None = None):
    """Keep the last value of each named computation (per session, or in a shipped flow's shared store)."""
    store = st.session_state.setdefault(MEMO, {}) if store is None else store
    entry = store.get(name)  # read once: another session may replace a shared entry at any moment
    if entry is not None and entry[0] == key:
        return entry[1]
    value = compute()
    store[name] = (key, value)
    return value


def styled(fig):
    return plots.talk_style(fig) if TALK else fig


def animation_figure(store: dict, model, key: tuple, data, n_between: int, follow: bool):
    """Both directions' animation in one figure (the browser switches between them), from the store's few most
    recent ones, else built now (counted in ``st.session_state[BUILDS]``)."""
    figures = store.setdefault("animation-figures", {})
    fig = figures.get(key)
    if fig is not None:
        return fig
    forward = layers.animation_frames(model, data, "forward", n_between)
    inverse = layers.animation_frames(model, layers.latent_samples(len(data), model.dim, seed=0), "inverse", n_between)
    fig = styled(plots.build_animation_figure(forward, follow=follow, other=inverse))
    st.session_state[BUILDS] = st.session_state.get(BUILDS, 0) + 1
    figures[key] = fig
    while len(figures) > FIGURES_KEPT:  # the oldest built go first (another session may be evicting too)
        try:
            figures.pop(next(iter(figures)), None)
        except (RuntimeError, StopIteration):
            break
    return fig


def on_pick() -> None:
    """A click on the density view: copy the clicked point's coordinates into the number inputs."""
    event = st.session_state.get("layers-pick")
    picked = (event or {}).get("selection", {}).get("points", [])
    picked = [p for p in picked if p.get("x") is not None and p.get("y") is not None]
    if picked:
        st.session_state["layers-x"] = float(picked[0]["x"])
        st.session_state["layers-y"] = float(picked[0]["y"])


st.title("Layer by layer")
st.caption(
    "Every step of a RealNVP is exact and inspectable: watch each coupling layer move the points, see what it "
    "stretches and squeezes, and read log p(x) as an exact sum of parts."
)

pg_trainer = playground_trainer()
pts_trainer = points_trainer()
flows = layers.pretrained_flows()
source_box = st.container(key="layers-source")
choices = [name for name, trainer in (("playground", pg_trainer), ("points", pts_trainer)) if trainer is not None]
if flows:
    choices.append("pretrained")
choices.append("own")
labels = {
    "playground": "The Playground's model",
    "points": "Your own points' model",
    "pretrained": "A pretrained flow",
    "own": "Train one here",
}
wanted = st.session_state.pop("layers-source", None)  # set by a page's "open on Layer by layer" button
if wanted in choices:
    st.session_state["layers-model-choice"] = wanted
if st.session_state.get("layers-model-choice") not in choices:
    st.session_state["layers-model-choice"] = choices[0]
pick_col, flow_col = source_box.columns([3, 2], vertical_alignment="bottom")
source = pick_col.segmented_control("Model", choices, format_func=labels.get, key="layers-model-choice", required=True)
store = None  # this session's memo; a shipped flow's pictures are shared by every session
if source == "playground":
    trainer = pg_trainer
elif source == "points":
    trainer = pts_trainer
elif source == "pretrained":
    if st.session_state.get("layers-pretrained") not in flows:
        st.session_state["layers-pretrained"] = first_pretrained(flows)
    name = flow_col.selectbox(
        "Pretrained flow",
        list(flows),
        key="layers-pretrained",
        help="Small flows trained by `python -m realnvp train-2d` on the Playground's scenes (assets/flows2d/).",
    )
    try:
        trainer = pretrained(name)
    except ValueError as err:  # a damaged asset: say so, and let the page train its own instead
        source_box.error(f"The shipped flow {name!r} could not be loaded: {err}")
        st.session_state["layers-model-choice"] = "own"
        st.stop()
    store = shared_store(name)
else:
    with source_box.expander("This page's own model", expanded=True):
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        c1.selectbox("Data set", DATASETS, key="layers-own-dataset")
        c2.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1, key="layers-own-seed")
        c3.button("Retrain", key="layers-retrain", on_click=request_retrain, icon=":material/refresh:")
    trainer = st.session_state.get(OWN_MODEL)
    if trainer is None or st.session_state.pop("layers_retrain", False):
        dataset = st.session_state.get("layers-own-dataset", "moons")
        seed = int(st.session_state.get("layers-own-seed", 0))
        with st.spinner(f"Training a quick model on {dataset} (800 steps, a few seconds)…"):
            trainer = layers.quick_trainer(dataset, seed=seed)
        st.session_state[OWN_MODEL] = trainer

model = trainer.model
infos = layers.describe_layers(model)
# What identifies the weights for the memo: the trainer object, how far it got, and its latest loss.
model_key = (id(trainer), trainer.step_count, len(trainer.history.events), tuple(trainer.history.train_nll[-1:]))
n_couplings = sum(i.is_coupling for i in infos)
nll = trainer.history.heldout_nll[-1] if trainer.history.heldout_nll else None
what = (
    f"**{trainer.name}**, step {trainer.step_count:,}, {len(infos)} layers ({n_couplings} couplings, "
    f"{model.config.coupling}/{model.config.scale})" + (f", held-out NLL {nll:.3f} nats" if nll is not None else "")
)
if source == "playground":
    source_box.success(f"Showing the **Playground's model**: {what}. Train it further there; this page follows.")
elif source == "points":
    source_box.success(f"Showing the model fitted on **Your own points**: {what} (the weights the fit kept).")
elif source == "pretrained":
    card = trainer.card
    gap = f" (+{card['gap']:.3f} over the true entropy)" if card.get("gap") is not None else ""
    source_box.info(
        f"Showing a **pretrained flow**: {what}{gap}, trained in {card['seconds']:.0f} s by `python -m realnvp "
        f"train-2d` (assets/flows2d/{card['name']}/card.json). Train one in the Playground and it appears here."
    )
else:
    source_box.info(f"Showing **this page's own model**: {what}.")
data_points = memo("data", (model_key,), lambda: layers.subsample(trainer.x_train, 2000, seed=0), store)
on_data = memo("roundtrip_data", (model_key,), lambda: layers.round_trip_errors(model, data_points), store)
if on_data.n_nonfinite:
    source_box.warning(
        f"This model sends {on_data.n_nonfinite:,} of {on_data.n_points:,} data points to NaN/Inf (its scales blew "
        "up, as an unbounded exp scale can): the pictures below show what is left, and some numbers read nan."
    )
mean, scale = trainer.standardizer.mean, trainer.standardizer.scale
whitened = getattr(trainer.standardizer, "matrix", None) is not None
SPACE_NOTE = (
    "The animation, the layer maps and latent space live in the model's **standardised** space, "
    f"S(x) = (x − mean) / std with mean = ({mean[0]:.3g}, {mean[1]:.3g}) and std = ({scale[0]:.3g}, "
    f"{scale[1]:.3g})"
    + (", then decorrelated with the training covariance (a fixed linear map, exact log-det)" if whitened else "")
    + "; likelihoods are reported in the data's **original units**."
)


# -- 1. the animation (a fragment: its sliders rerun only this part; the direction switches in the browser) ----------
@st.fragment
def animation_section(model, model_key: tuple, data_points, store: dict) -> None:
    st.header("1 · Watch the points move")
    plot_col, side = st.columns([3, 2], gap="large")
    with side:
        n_points = st.slider("Points", 200, 2000, 2000, step=100, key="layers-n-points")
        n_between = st.slider("In-between frames", 0, 8, 4, key="layers-between")
        follow = st.toggle(
            "Axes follow the points",
            value=True,
            key="layers-follow",
            help="On: at every layer the points fill the plot (watch the tick labels); off: one fixed window.",
        )
        st.markdown(
            "**data → latent** (density): the data, standardised, go through every layer and should end up filling "
            "the dashed 1σ/2σ/3σ circles of N(0, I).  \n"
            "**latent → data** (sampling): samples of N(0, I) go backwards through the layers and become data: "
            "this is how the flow samples."
        )
        st.caption(
            "Switch the direction with the buttons above the plot; press ▶ Play, or drag the slider to a layer. "
            "Each point keeps the colour of where it started; the grey grid is carried along, so its bends show how "
            "each layer deforms the plane. " + SPACE_NOTE
        )
    key = (model_key, n_points, n_between, follow, TALK)
    fig = animation_figure(store, model, key, data_points[:n_points], n_between, follow)
    with plot_col:
        st.plotly_chart(fig, key="layers-animation", config={"scrollZoom": False, "displayModeBar": False})


memo_store = st.session_state.setdefault(MEMO, {}) if store is None else store
animation_section(model, model_key, data_points, memo_store)


# -- 2 and 3: one layer, one point (a fragment: picking a point or a layer reruns only this part) --------------------
# a toy data set's square window fitted to its points; a user's fit keeps its own display window
bounds = trainer.view_bounds(margin=0.12) if isinstance(trainer, Trainer) else trainer.view_bounds()
density = memo(
    "density",
    (model_key, bounds),
    lambda: layers.density_grid(
        model, trainer.standardizer, bounds, resolution=100, data=layers.subsample(trainer.train_points, 2000)
    ),
    memo_store,
)
shown = memo("shown", (model_key,), lambda: layers.subsample(trainer.train_points, DISPLAY_POINTS, seed=1), memo_store)


@st.fragment
def layer_and_point(
    trainer: Trainer, model_key: tuple, data_points, density: layers.DensityGrid, shown, store: dict
) -> None:
    model = trainer.model
    infos = layers.describe_layers(model)
    st.header("2 · What each layer does")
    labels = {i.index: i.label for i in infos}
    k = st.selectbox("Layer", list(labels), format_func=labels.get, key="layers-layer")
    info = infos[k]
    space = st.radio(
        "log|det J| drawn over",
        ["the data plane", "this layer's input plane"],
        horizontal=True,
        key="layers-logdet-space",
        help="The data plane shows where in the data this layer stretches; its input plane is where it acts.",
    )
    space_key = "data" if space == "the data plane" else "input"
    inputs = memo("inputs", (model_key, k), lambda: layers.layer_inputs(model, data_points, k), store)
    plane_points = data_points if space_key == "data" else inputs
    grid = memo(
        "logdet_grid",
        (model_key, k, space_key),
        lambda: layers.layer_log_det_grid(model, k, layers.square_bounds(plane_points), 90, space_key),
        store,
    )
    c1, c2 = st.columns(2)
    with c1:
        if info.kind == "SplineCoupling":
            curves = layers.layer_spline_curves(model, k, points=data_points)
            st.plotly_chart(styled(plots.spline_curves_figure(curves)), key="layers-spline-curves")
        elif info.is_coupling:
            curves = layers.layer_scale_shift_curves(model, k, 200, points=data_points)
            st.plotly_chart(styled(plots.scale_shift_figure(curves)), key="layers-st-curves")
        else:
            st.info(
                f"Layer {k + 1} is a **{info.kind}**: it has no s(·) and t(·) networks; it rescales or shuffles "
                "every coordinate with constants, so its log|det J| is the same everywhere."
            )
    with c2:
        st.plotly_chart(
            styled(plots.log_det_heatmap_figure(grid, plane_points[:DISPLAY_POINTS])), key="layers-logdet-map"
        )
    means = memo("mean_logdets", (model_key,), lambda: layers.mean_layer_log_dets(model, data_points), store)
    st.plotly_chart(
        styled(plots.layer_log_det_bar_figure(means, [str(i.index + 1) for i in infos], selected=k)),
        key="layers-logdet-bars",
    )

    st.header("3 · The exact likelihood of one point")
    if st.session_state.get("layers-point-owner") != id(trainer):
        first = trainer.train_points[0]
        st.session_state["layers-x"], st.session_state["layers-y"] = float(first[0]), float(first[1])
        st.session_state["layers-point-owner"] = id(trainer)
    c1, c2 = st.columns([3, 2])
    with c2:
        st.write("Click a data point on the left, or type coordinates (original units):")
        st.number_input("x₁", step=0.05, format="%.4f", key="layers-x")
        st.number_input("x₂", step=0.05, format="%.4f", key="layers-y")
        point = (st.session_state["layers-x"], st.session_state["layers-y"])
        breakdown = layers.likelihood_breakdown(model, trainer.standardizer, point)
        check = float(trainer.log_prob([point])[0])
        with st.container(key="layers-logp"):
            st.metric("log p(x), sum of the parts", f"{breakdown.total:.5f} nats")
        with st.container(key="layers-check"):
            st.metric(
                "Trainer.log_prob(x), computed directly",
                f"{check:.5f} nats",
                delta=f"difference {abs(breakdown.total - check):.1e}",
                delta_color="off",
                delta_arrow="off",
            )
    with c1:
        st.plotly_chart(
            styled(plots.pick_figure(density, shown, selected=point)),
            key="layers-pick",
            on_select=on_pick,
            selection_mode="points",
        )
    c1, c2 = st.columns([3, 2])
    with c1:
        st.dataframe(breakdown.rows(), hide_index=True, key="layers-breakdown-table")
    with c2:
        st.plotly_chart(styled(plots.breakdown_waterfall_figure(breakdown)), key="layers-waterfall")
    c1, c2 = st.columns([2, 3])
    with c1:
        st.plotly_chart(styled(plots.point_path_figure(breakdown)), key="layers-path")
    with c2:
        st.subheader("The maths, with this point's numbers")
        layer_sum = sum(s.log_det for s in breakdown.steps)
        st.latex(
            r"\begin{aligned}\log p(x) &= \log \mathcal{N}(z; 0, I) + \textstyle\sum_k \log\lvert\det J_k\rvert"
            r" \\ &\quad + \log\lvert\det S\rvert \\[2pt]"
            rf"{breakdown.total:.4f} &= {breakdown.log_base:.4f} + ({layer_sum:.4f}) "
            rf"+ ({breakdown.standardizer_log_det:.4f})\end{{aligned}}"
        )
        step = breakdown.steps[k]
        if info.kind == "SplineCoupling":
            i, j = info.kept[0], info.transformed[0]
            st.markdown(
                f"Layer {k + 1} keeps x{'₁₂'[i]} = {step.before[i]:.4f} (x_A) and moves x{'₁₂'[j]} (x_B) through a "
                "monotone rational-quadratic spline whose bins the network draws from x_A (identity beyond the tail "
                "bound); its inverse solves a quadratic in the bin, and its log-det is the log-slope at this point:"
            )
            st.latex(
                r"\begin{aligned}x'_B &= g(x_B \mid x_A) \\"
                rf"{step.after[j]:.4f} &= g({step.before[j]:.4f} \mid {step.before[i]:.4f}) \\[6pt]"
                rf"\log\lvert\det J_{{{k + 1}}}\rvert &= \log g'(x_B \mid x_A) = {step.log_det:.4f}"
                r"\end{aligned}"
            )
        elif info.is_coupling:
            i, j = info.kept[0], info.transformed[0]
            s, t = float(step.s[0]), float(step.t[0])
            st.markdown(
                f"Layer {k + 1} keeps x{'₁₂'[i]} = {step.before[i]:.4f} (x_A) and moves x{'₁₂'[j]} (x_B): the affine "
                "coupling, its inverse and its log-det, with this point's numbers:"
            )
            st.latex(
                r"\begin{aligned}x'_B &= x_B\, e^{s(x_A)} + t(x_A) \\"
                rf"{step.after[j]:.4f} &= {step.before[j]:.4f}\, e^{{{s:.4f}}} + ({t:.4f}) \\[6pt]"
                r"x_B &= \bigl(x'_B - t(x_A)\bigr)\, e^{-s(x_A)} \\"
                rf"{step.before[j]:.4f} &= \bigl({step.after[j]:.4f} - ({t:.4f})\bigr)\, e^{{{-s:.4f}}} \\[6pt]"
                rf"\log\lvert\det J_{{{k + 1}}}\rvert &= \textstyle\sum_i s_i(x_A) = {step.log_det:.4f}"
                r"\end{aligned}"
            )
        else:
            st.markdown(f"Layer {k + 1} ({info.kind}) has log|det J| = {step.log_det:.4f} at every point.")
        st.caption("Pick another layer in section 2 to see its numbers here.")


layer_and_point(trainer, model_key, data_points, density, shown, memo_store)

# -- 4. invertibility -----------------------------------------------------------------------------------------------
st.header("4 · Invertibility, checked")
far = layers.far_grid(FAR_EXTENT, n=41)
on_far = memo("roundtrip_far", (model_key,), lambda: layers.round_trip_errors(model, far), memo_store)
c1, c2, c3 = st.columns(3)
with c1, st.container(key="layers-roundtrip-data"):
    st.metric("max |f⁻¹(f(x)) − x| on the data", f"{on_data.flow:.1e}", border=True)
with c2, st.container(key="layers-roundtrip-far"):
    st.metric(f"… on far-away points (±{FAR_EXTENT:g}σ)", f"{on_far.flow:.1e}", border=True)
with c3:
    if on_data.flow < 1e-4 and on_far.relative < 1e-3 and on_far.n_nonfinite == 0:
        st.badge("Invertible to float32 precision", icon=":material/check_circle:", color="green")
    elif on_data.flow < 1e-4:
        st.badge("Exact on the data, not far away", icon=":material/warning:", color="orange")
    else:
        st.badge("Numerically unstable", icon=":material/error:", color="red")
    st.caption(
        f"Relative error far away: {on_far.relative:.1e}"
        + (f"; {on_far.n_nonfinite} far points overflowed." if on_far.n_nonfinite else ".")
    )
st.plotly_chart(
    styled(plots.round_trip_figure([str(i.index + 1) for i in infos], on_data.per_layer, on_far.per_layer)),
    key="layers-roundtrip",
)

# -- 5. latent diagnostics ------------------------------------------------------------------------------------------
st.header("5 · Is latent space Gaussian? Where are the holes?")
diag = memo("latent", (model_key,), lambda: layers.latent_diagnostics(model, data_points), memo_store)
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(styled(plots.latent_figure(diag)), key="layers-latent")
    st.dataframe(diag.rows(), hide_index=True, key="layers-latent-table")
    st.caption(
        "KS: the Kolmogorov–Smirnov distance between each latent coordinate and N(0, 1) "
        "(a p-value below 0.05 says the difference is more than chance)."
    )
with c2:
    st.plotly_chart(styled(plots.holes_figure(density, shown[:800])), key="layers-holes-map")
    m1, m2 = st.columns(2)
    with m1, st.container(key="layers-mass"):
        st.metric("Model mass inside this window", f"{density.mass:.3f}", help="∫ p(x) dx over the plotted window")
    with m2, st.container(key="layers-holes"):
        st.metric("Mass in holes", f"{density.hole_mass:.1%}", help="Model mass where the data (KDE) is < 10% of it")
    st.caption(
        "Mass outside the window ≈ 1 − the number above. Holes (orange): cells inside the model's 95% region where "
        "a kernel density estimate of the data is below a tenth of the model's density — mass the model invented."
    )
