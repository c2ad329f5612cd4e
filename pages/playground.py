"""The Playground: pick data and an architecture, press Play, watch a RealNVP learn. Widgets → realnvp → figures."""

from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st

from realnvp import plots
from realnvp.checkpoint import flow_to_bytes
from realnvp.datasets import DATASETS
from realnvp.settings import CHOICES, LIMITS, PRESETS, Settings, from_query, to_query
from ui.playground_state import DISPLAY_POINTS, FRAME_SECONDS, PlaygroundState
from ui.runtime import current_device, session_id, training_slots

st.html("<style>[data-testid='stMetricValue'] {font-size: 2.1rem;} .stButton button {font-size: 1.1rem;}</style>")


# -- session state --------------------------------------------------------------------------------------------------
def _state() -> PlaygroundState:
    state = st.session_state.get("playground")
    if state is None:
        settings, notes = from_query(st.query_params.to_dict())
        state = PlaygroundState(settings=settings, device=current_device())
        if notes:
            state.notice = "Some link parameters were adjusted: " + "; ".join(notes)
        st.session_state["playground"] = state
    return state


state = _state()
if state.device != current_device():
    state.device = current_device()
    state.reset(f"Model reset to train on {state.device.upper()}.")
if state.trainer is None:
    notice = state.notice
    state.reset()
    state.notice = notice

WIDGET = {f.name: f"pg-{f.name}" for f in fields(Settings)}


def _sync_widgets_from(settings: Settings) -> None:
    for name, key in WIDGET.items():
        st.session_state[key] = getattr(settings, name)


def _settings_from_widgets() -> Settings:
    values = {name: st.session_state.get(key, getattr(state.settings, name)) for name, key in WIDGET.items()}
    return Settings(**values)


def _publish_url() -> None:
    st.query_params.from_dict(to_query(state.settings))


def on_setting_changed() -> None:
    state.apply(_settings_from_widgets())
    _publish_url()


def on_preset() -> None:
    name = st.session_state["pg-preset"]
    if name in PRESETS:
        state.settings = replace(PRESETS[name].settings)
        _sync_widgets_from(state.settings)
        state.reset(f"Preset “{PRESETS[name].title}”: {PRESETS[name].what_to_watch}")
        _publish_url()


def stop_training() -> None:
    state.playing = False
    state.queue_position = 0
    training_slots().release(session_id())


def on_play() -> None:
    state.playing = True


def on_pause() -> None:
    stop_training()


def on_step() -> None:
    stop_training()
    state.advance()


def on_reset() -> None:
    stop_training()
    state.reset("Model reset: fresh weights, same data and settings.")


for name, key in WIDGET.items():  # widgets forget their values when another page was shown: restore them
    if key not in st.session_state:
        st.session_state[key] = getattr(state.settings, name)
_publish_url()


def _options(values: list, current) -> list:
    return sorted(set(values) | {current})


# -- layout ---------------------------------------------------------------------------------------------------------
controls, main = st.columns([1, 3.2], gap="medium")

with controls:
    st.selectbox(
        "Preset",
        ["—", *PRESETS],
        key="pg-preset",
        format_func=lambda k: PRESETS[k].title if k in PRESETS else "choose a preset…",
        on_change=on_preset,
    )
    with st.expander("Data", expanded=True):
        st.selectbox("Dataset", DATASETS, key=WIDGET["dataset"], on_change=on_setting_changed)
        lim = LIMITS["noise"]
        st.slider("Noise", lim.low, lim.high, step=0.01, key=WIDGET["noise"], on_change=on_setting_changed)
        st.select_slider(
            "Points",
            _options([500, 1000, 2000, 5000, 10000, 20000], state.settings.n_points),
            key=WIDGET["n_points"],
            on_change=on_setting_changed,
        )
        st.number_input("Seed", 0, int(LIMITS["seed"].high), step=1, key=WIDGET["seed"], on_change=on_setting_changed)
    with st.expander("Architecture", expanded=True):
        st.slider("Coupling layers", 1, int(LIMITS["layers"].high), key=WIDGET["layers"], on_change=on_setting_changed)
        st.select_slider(
            "Conditioner width",
            _options([8, 16, 32, 64, 128, 256], state.settings.width),
            key=WIDGET["width"],
            on_change=on_setting_changed,
        )
        st.slider("Conditioner depth", 1, int(LIMITS["depth"].high), key=WIDGET["depth"], on_change=on_setting_changed)
        st.radio("Coupling", CHOICES["coupling"], key=WIDGET["coupling"], horizontal=True, on_change=on_setting_changed)
        st.selectbox(
            "Scale",
            CHOICES["scale"],
            key=WIDGET["scale"],
            format_func={"tanh": "tanh-bounded (±2)", "softplus": "softplus", "exp": "raw exp (unbounded)"}.get,
            on_change=on_setting_changed,
        )
        st.selectbox("Mask", CHOICES["mask"], key=WIDGET["mask"], on_change=on_setting_changed)
        st.selectbox("Normalisation", CHOICES["norm"], key=WIDGET["norm"], on_change=on_setting_changed)
    with st.expander("Optimiser (changes apply live)", expanded=True):
        st.selectbox("Optimiser", CHOICES["optimizer"], key=WIDGET["optimizer"], on_change=on_setting_changed)
        st.select_slider(
            "Learning rate",
            _options([1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1], state.settings.lr),
            key=WIDGET["lr"],
            format_func=lambda v: f"{v:g}",
            on_change=on_setting_changed,
        )
        st.select_slider(
            "Batch size",
            _options([32, 64, 128, 256, 512, 1024, 2048], state.settings.batch),
            key=WIDGET["batch"],
            on_change=on_setting_changed,
        )
        st.select_slider(
            "Gradient clip",
            _options([0.0, 0.5, 1.0, 5.0, 10.0, 100.0], state.settings.clip),
            key=WIDGET["clip"],
            format_func=lambda v: "off" if v == 0 else f"{v:g}",
            on_change=on_setting_changed,
        )
        st.select_slider(
            "Steps per frame",
            _options([0, 1, 5, 10, 25, 50, 100, 200, 400], state.settings.steps_per_frame),
            key=WIDGET["steps_per_frame"],
            format_func=lambda v: "auto" if v == 0 else str(v),
            on_change=on_setting_changed,
        )

with main:
    buttons = st.columns([1, 1, 1, 1, 2])
    primary = "secondary" if state.playing else "primary"
    buttons[0].button("Play", key="play", icon=":material/play_arrow:", on_click=on_play, type=primary, width="stretch")
    buttons[1].button("Pause", key="pause", icon=":material/pause:", on_click=on_pause, width="stretch")
    buttons[2].button(
        "Step",
        key="step",
        icon=":material/skip_next:",
        on_click=on_step,
        width="stretch",
        help="Train one chunk, then pause",
    )
    buttons[3].button("Reset", key="reset", icon=":material/restart_alt:", on_click=on_reset, width="stretch")
    with buttons[4]:
        st.markdown(":green[**training…**]" if state.playing else ":gray[paused]")
    if state.notice:
        st.info(state.notice)

    @st.fragment(run_every=FRAME_SECONDS if state.playing else None)
    def live_view() -> None:
        trainer = state.trainer
        if state.playing:
            state.queue_position = training_slots().request(session_id())
            if state.queue_position == 0:
                state.advance()
        state.record_frame()
        m = st.columns(4)
        with m[0].container(key="step-count"):
            st.metric("Step", f"{trainer.step_count:,}")
        with m[1].container(key="heldout-nll"):
            nll = trainer.history.heldout_nll[-1] if trainer.history.heldout_nll else float("nan")
            st.metric("Held-out NLL (nats)", f"{nll:.3f}")
        gap = trainer.gap
        m[2].metric(
            "Gap to entropy floor",
            "—" if gap is None else f"{gap:+.3f}",
            help=f"True entropy of the data: {trainer.entropy:.3f} nats" if trainer.entropy is not None else None,
        )
        rate = state.steps_per_second()
        m[3].metric("Steps / s", "—" if rate is None or not state.playing else f"{rate:,.0f}")
        if state.playing and state.queue_position > 0:
            st.info(
                f"Waiting for a free training slot ({state.queue_position - 1} ahead of you). The server shares its "
                "CPU between visitors in turns; this resolves by itself.",
                icon=":material/hourglass_top:",
            )
        if trainer.history.events:
            st.warning(trainer.history.events[-1], icon=":material/warning:")

        if state.figures is None or state.figures_step != trainer.step_count:
            bounds = trainer.view_bounds()
            data = trainer.train_points[:DISPLAY_POINTS]
            xs, ys, log_p = trainer.log_prob_grid(bounds, resolution=64)
            h = trainer.history
            state.figures = {
                "density": plots.density_figure(xs, ys, log_p, data=data, uirevision=f"density-{id(trainer)}"),
                "points": plots.points_figure(
                    data, state.current_samples(), bounds=bounds, uirevision=f"points-{id(trainer)}"
                ),
                "loss": plots.loss_figure(
                    h.steps, h.train_nll, h.eval_steps, h.heldout_nll, trainer.entropy, uirevision="loss"
                ),
            }
            state.figures_step = trainer.step_count
        left, right = st.columns(2)
        left.plotly_chart(state.figures["density"], key="pg-density", width="stretch")
        right.plotly_chart(state.figures["points"], key="pg-points", width="stretch")
        st.plotly_chart(state.figures["loss"], key="pg-loss", width="stretch")

    live_view()

    with st.expander("Export and share"):
        trainer = state.trainer
        st.markdown(
            "This page's URL holds every setting and the seed: copy it to reproduce this run. "
            "The model file is safetensors with its JSON config embedded (`python -m realnvp sample model.safetensors`)."
        )
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download model (.safetensors)",
            data=lambda t=trainer: flow_to_bytes(
                t.model, t.standardizer, extra={"dataset": t.name, "steps": t.step_count}
            ),
            file_name=f"realnvp-{trainer.name}-step{trainer.step_count}.safetensors",
            mime="application/octet-stream",
            on_click="ignore",
            key="pg-download-model",
        )
        c2.download_button(
            "Download 2,000 samples (.csv)",
            data=lambda t=trainer: "x,y\n" + "\n".join(f"{a:.6g},{b:.6g}" for a, b in t.sample(2000, seed=0)),
            file_name=f"realnvp-{trainer.name}-samples.csv",
            mime="text/csv",
            on_click="ignore",
            key="pg-download-samples",
        )
