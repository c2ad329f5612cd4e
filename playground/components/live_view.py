"""The live training view of the Playground: controls, transport, figures.

Streamlit glue only (widgets, layout, session state); all maths is in `realnvp`. One :class:`LiveView` per page,
with its own session-state slot and widget-key prefix. The Playground's keys are the stable test hooks:
``play``, ``pause``, ``step``, ``reset`` (buttons) and the containers ``step-count`` and ``heldout-nll``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import fields, replace

import streamlit as st
import torch

from playground.components.layout import folding_row
from playground.components.live_chart import live_chart
from playground.components.transport import notice_slot, queue_notice, transport_row
from playground.plots import live as plots
from playground.serving.runtime import current_device, session_id, training_pool, training_slots
from playground.settings import CHOICES, LIMITS, PRESETS, Settings
from playground.state import (
    DISPLAY_POINTS,
    FRAME_SECONDS,
    WAITING_FRAME_SECONDS,
    PlaygroundState,
)
from realnvp.checkpoint import flow_to_bytes
from realnvp.datasets import DATASETS

__all__ = ["LiveView", "BIG_FONT_CSS"]

FRAME_LOG = os.environ.get("REALNVP_FRAME_LOG")
BROADCAST_HEARTBEAT_S = 5.0  # benchmarks: append one JSON line per live frame

BIG_FONT_CSS = "<style>[data-testid='stMetricValue'] {font-size: 2.1rem;} .stButton button {font-size: 1.1rem;}</style>"


def _options(values: list, current) -> list:
    return sorted(set(values) | {current})


class LiveView:
    """Controls + Play/Pause/Step/Reset + live metrics and figures for one :class:`PlaygroundState`.

    ``state_key`` names the session-state slot, ``prefix`` is prepended to every widget key ("" for the Playground,
    so its hooks are ``play``, ``step-count``, …), ``on_settings`` is called after settings change (URL sync).
    """

    def __init__(
        self,
        state: PlaygroundState,
        prefix: str = "",
        widget_prefix: str = "pg-",
        on_settings: Callable[[Settings], None] | None = None,
        square_height: int = 420,
        loss_height: int = 360,
    ):
        self.state = state
        self.square_height, self.loss_height = square_height, loss_height  # the presenter view sizes its charts
        self.broadcast = None  # a playground.serving.broadcast.Broadcast: every drawn frame is published into it
        self.title = ""
        self._was_playing = False
        self._period: float | None = None  # the live fragment's redraw period while playing (set by live())
        self.prefix = prefix
        self.widget_prefix = widget_prefix
        self.on_settings = on_settings or (lambda settings: None)
        # widget keys: the field name, or its URL name where that is shorter (pg-layers, pg-batch, pg-clip: test hooks)
        short = {"n_layers": "layers", "batch_size": "batch", "grad_clip": "clip"}
        self.widget = {f.name: f"{widget_prefix}{short.get(f.name, f.name)}" for f in fields(Settings)}
        self.slot_id = f"{session_id()}/{prefix or 'playground'}"
        if state.device != current_device():
            state.device = current_device()
            state.reset(f"Model reset to train on {state.device.upper()}.")
        if state.trainer is None:
            notice = state.notice
            state.reset()
            state.notice = notice
        self.adopt_trainer_lr()
        for name, key in self.widget.items():  # widgets forget their values when another page was shown
            if key not in st.session_state:
                st.session_state[key] = getattr(state.settings, name)

    def adopt_trainer_lr(self) -> bool:
        """If the trainer changed its learning rate (the NaN guard halves it), the settings, the slider and the URL
        follow. Returns True when something changed. Call before the widgets are drawn."""
        state = self.state
        if state.trainer is None or state.trainer.lr == state.settings.lr:
            return False
        state.settings = replace(state.settings, lr=state.trainer.lr)
        st.session_state[self.widget["lr"]] = state.settings.lr
        self.on_settings(state.settings)
        return True

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- callbacks --------------------------------------------------------------------------------------------------
    def sync_widgets(self) -> None:
        for name, key in self.widget.items():
            st.session_state[key] = getattr(self.state.settings, name)

    def on_setting_changed(self) -> None:
        values = {n: st.session_state.get(k, getattr(self.state.settings, n)) for n, k in self.widget.items()}
        was_playing = self.state.playing
        preset = PRESETS.get(st.session_state.get(f"{self.widget_prefix}preset"))
        if preset is not None and Settings(**values).needs_reset(preset.settings):
            st.session_state[f"{self.widget_prefix}preset"] = "—"  # the preset's label no longer applies
        self.state.apply(Settings(**values))
        if was_playing and not self.state.playing:  # data or architecture changed while playing: keep playing
            self.on_play(keep_notice=True)
            self.state.notice = (self.state.notice or "Model reset.") + " Still playing, on the new model."
        self.on_settings(self.state.settings)

    def apply_settings(self, settings: Settings, notice: str | None) -> None:
        """Switch to a scene's or preset's settings: fresh model, widgets and URL updated, paused."""
        self.stop_training()
        self.state.settings = replace(settings)
        self.sync_widgets()
        self.state.reset(notice)
        self.on_settings(self.state.settings)

    def on_preset(self) -> None:
        name = st.session_state[f"{self.widget_prefix}preset"]
        if name in PRESETS:
            self.stop_training()
            self.state.settings = replace(PRESETS[name].settings)
            self.sync_widgets()
            self.state.reset(f"Preset “{PRESETS[name].title}”: {PRESETS[name].what_to_watch}")
            self.on_settings(self.state.settings)

    def stop_training(self) -> None:
        self.state.stop_training()

    def on_play(self, keep_notice: bool = False) -> None:
        if not keep_notice:
            self.state.notice = None  # a notice about the last reset or change no longer applies once training
        self.state.start_training(training_slots(), self.slot_id, pool=training_pool())

    def on_play_pause(self) -> None:
        if self.state.playing:
            self.stop_training()
        else:
            self.on_play()

    def on_step(self) -> None:
        self.state.notice = None
        self.stop_training()
        try:
            self.state.advance()
        except (RuntimeError, ValueError) as err:  # includes CUDA out-of-memory
            self._handle_training_error(err)

    def on_reset(self) -> None:
        self.stop_training()
        self.state.reset("Model reset: fresh weights, same data and settings.")

    # -- controls ---------------------------------------------------------------------------------------------------
    def controls(self, data_controls: bool = True, presets: bool = True) -> None:
        w, change, s = self.widget, self.on_setting_changed, self.state.settings
        if presets:
            st.selectbox(
                "Preset",
                ["—", *PRESETS],
                key=f"{self.widget_prefix}preset",
                format_func=lambda k: PRESETS[k].title if k in PRESETS else "choose a preset…",
                on_change=self.on_preset,
            )
        if data_controls:
            with st.expander("Data", expanded=True):
                st.selectbox("Dataset", DATASETS, key=w["dataset"], on_change=change)
                lim = LIMITS["noise"]
                st.slider("Noise", lim.low, lim.high, step=0.01, key=w["noise"], on_change=change)
                st.select_slider(
                    "Points",
                    _options([500, 1000, 2000, 5000, 10000, 20000], s.n_points),
                    key=w["n_points"],
                    on_change=change,
                )
                st.number_input("Seed", 0, int(LIMITS["seed"].high), step=1, key=w["seed"], on_change=change)
        with st.expander("Architecture", expanded=True):
            st.slider("Coupling layers", 1, int(LIMITS["n_layers"].high), key=w["n_layers"], on_change=change)
            st.select_slider(
                "Conditioner width", _options([8, 16, 32, 64, 128, 256], s.width), key=w["width"], on_change=change
            )
            st.slider("Conditioner depth", 1, int(LIMITS["depth"].high), key=w["depth"], on_change=change)
            st.radio("Coupling", CHOICES["coupling"], key=w["coupling"], horizontal=True, on_change=change)
            st.selectbox(
                "Scale",
                CHOICES["scale"],
                key=w["scale"],
                format_func={"tanh": "tanh-bounded (±2)", "softplus": "softplus", "exp": "raw exp (unbounded)"}.get,
                on_change=change,
            )
            st.selectbox("Mask", CHOICES["mask"], key=w["mask"], on_change=change)
            st.selectbox("Normalisation", CHOICES["norm"], key=w["norm"], on_change=change)
        with st.expander("Optimiser (changes apply live)", expanded=True):
            st.selectbox("Optimiser", CHOICES["optimizer"], key=w["optimizer"], on_change=change)
            st.select_slider(
                "Learning rate",
                _options([1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1], s.lr),
                key=w["lr"],
                format_func=lambda v: f"{v:g}",
                on_change=change,
            )
            st.select_slider(
                "Batch size",
                _options([32, 64, 128, 256, 512, 1024, 2048], s.batch_size),
                key=w["batch_size"],
                on_change=change,
            )
            st.selectbox(
                "Learning-rate schedule",
                CHOICES["schedule"],
                key=w["schedule"],
                format_func={
                    "constant": "constant",
                    "cosine": "cosine decay (to 2%)",
                    "ramp": "linear ramp up (warm-up)",
                }.get,
                on_change=change,
            )
            if s.schedule != "constant":
                st.select_slider(
                    "Schedule length (steps)",
                    _options([500, 1000, 1500, 2000, 3000, 4000, 6000, 10000], s.decay_steps),
                    key=w["decay_steps"],
                    on_change=change,
                )
            st.select_slider(
                "Gradient clip",
                _options([0.0, 0.5, 1.0, 5.0, 10.0, 100.0], s.grad_clip),
                key=w["grad_clip"],
                format_func=lambda v: "off" if v == 0 else f"{v:g}",
                on_change=change,
            )
            st.select_slider(
                "Steps per frame",
                _options([0, 1, 5, 10, 25, 50, 100, 200, 400], s.steps_per_frame),
                key=w["steps_per_frame"],
                format_func=lambda v: "auto" if v == 0 else str(v),
                on_change=change,
            )

    # -- transport and the live fragment ----------------------------------------------------------------------------
    def transport(self) -> None:
        state = self.state
        transport_row(self.prefix, state.playing, self.on_play, self.stop_training, self.on_step, self.on_reset)
        with notice_slot():
            if state.notice:
                st.info(state.notice)

    def live(self) -> None:
        """The part that refreshes while training (a timed fragment; nothing is scheduled while paused)."""
        self._was_playing = self.state.playing
        # paused with a follow link open: a slow heartbeat keeps the followers' "the run is on" fresh
        idle = BROADCAST_HEARTBEAT_S if self.broadcast is not None else None
        self._period = self._refresh_period() if self._was_playing else None
        if self._was_playing:
            self.state.worker.pace_to_page(self._period)  # a slower page needs its charts' data less often
        fragment = st.fragment(run_every=self._period if self._was_playing else idle)(self._frame)
        fragment()

    @staticmethod
    def _refresh_period() -> float:
        """Refresh fast when few sessions train; slow down in a busy room so the server keeps serving newcomers.

        Drawing a frame costs the server (and each browser) far more than a few training steps, so with more
        sessions playing than training slots, every session refreshes less often (training itself is unaffected).
        """
        status = training_slots().status()
        playing = status["training"] + status["waiting"]
        if playing <= status["capacity"]:
            return FRAME_SECONDS
        return min(WAITING_FRAME_SECONDS * 2, 2 * FRAME_SECONDS * playing)

    def _period_is_stale(self) -> bool:
        """Whether the room changed enough since this page's timer was set (a factor of 1.5 either way) that its
        redraw period should be set again (the first session to press Play in a room would otherwise keep
        redrawing 5 times a second while 11 others wait, and the last ones slow after the room emptied)."""
        if self._period is None:
            return False
        ratio = self._refresh_period() / self._period
        return ratio >= 1.5 or ratio <= 1 / 1.5

    def _frame(self) -> None:
        started = time.perf_counter()
        playing = self._frame_body()
        if FRAME_LOG:
            record = {
                "t": started,
                "playing": playing,
                "frame_s": time.perf_counter() - started,
                "step": self.state.trainer.step_count,
                "slot": self.slot_id,
            }
            with open(FRAME_LOG, "a") as log:
                log.write(json.dumps(record) + "\n")

    def _frame_body(self) -> bool:
        state = self.state
        playing = state.playing
        if playing:
            state.worker.beat()
            state.record_frame()
        err = state.take_error()
        if err is not None:
            self._handle_training_error(err)
        if self._was_playing and not playing:
            st.rerun()  # training stopped by itself: a full rerun shows "paused" and stops the timer
        if playing and self._period_is_stale():
            st.rerun(scope="app")  # the room filled up or emptied: the timer's period is set by a full run only
        if state.trainer.lr != state.settings.lr:  # the guard lowered it: the slider and the URL must say so
            st.rerun(scope="app")  # the next full run adopts it before drawing the slider
        self._draw(state)
        return playing

    def _handle_training_error(self, err: BaseException) -> None:
        state = self.state
        if isinstance(err, torch.cuda.OutOfMemoryError):
            with state.lock:
                state.trainer.to("cpu")
            state.device = "cpu"
            st.session_state["device"] = "cpu"
            state.notice = "The GPU ran out of memory: training moved to the CPU; the model and its history are kept."
        else:
            state.notice = f"Training stopped after an error ({type(err).__name__}: {err}). The model is kept."

    def _draw(self, state: PlaygroundState) -> None:
        with state.lock:  # a consistent snapshot; while playing the worker has already computed the charts' data
            trainer = state.trainer
            step = trainer.step_count
            h = trainer.history
            nll = h.heldout_nll[-1] if h.heldout_nll else float("nan")
            gap, entropy = trainer.gap, trainer.entropy
            event = h.events[-1] if h.events else None
            display = state.current_display()
            drawn_as = (display.step, self.square_height, self.loss_height)  # a new screen size redraws too
            stale = state.figures is None or state.figures_step != drawn_as
            if stale:
                curves = (list(h.steps), list(h.train_nll), list(h.eval_steps), list(h.heldout_nll))
        m = folding_row(self.key("numbers")).columns(4)
        with m[0].container(key=self.key("step-count")):
            st.metric("Step", f"{step:,}")
        with m[1].container(key=self.key("heldout-nll")):
            st.metric("Held-out NLL (nats)", f"{nll:.3f}")
        m[2].metric(
            "Gap to entropy floor",
            "—" if gap is None else f"{gap:+.3f}",
            help=f"True entropy of the data: {entropy:.3f} nats"
            if entropy is not None
            else "Unknown for data without a known generator",
        )
        rate = state.steps_per_second()
        m[3].metric("Steps / s", "—" if rate is None or not state.playing else f"{rate:,.0f}")
        with notice_slot():
            queue_notice(state.playing, state.queue_position)
            if event:
                st.warning(event, icon=":material/warning:")
        if stale:  # plain figure dicts: building them costs well under a millisecond
            state.figures = {
                "density": plots.density_spec(
                    display.xs,
                    display.ys,
                    display.log_p,
                    uirevision=f"density-{id(trainer)}",
                    height=self.square_height,
                    bounds=display.bounds,
                ),
                "points": plots.points_spec(
                    trainer.train_points[:DISPLAY_POINTS],
                    display.samples,
                    bounds=display.bounds,
                    uirevision=f"points-{id(trainer)}",
                    height=self.square_height,
                ),
                "loss": plots.loss_spec(*curves, entropy, uirevision="loss", height=self.loss_height),
            }
            state.figures_step = drawn_as
        if self.broadcast is not None:  # followers draw exactly these figures; they never touch the trainer
            metrics = {"Held-out NLL (nats)": f"{nll:.3f}", "Gap to the floor": "—" if gap is None else f"{gap:+.3f}"}
            self.broadcast.publish(step, metrics, state.figures, self.title, state.playing)
        left, right = st.columns(2)
        with left:
            live_chart(state.figures["density"], key=f"{self.widget_prefix}density")
        with right:
            live_chart(state.figures["points"], key=f"{self.widget_prefix}points")
        live_chart(state.figures["loss"], key=f"{self.widget_prefix}loss")

    def downloads(self) -> None:
        trainer = self.state.trainer
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download model (.safetensors)",
            data=lambda t=trainer: flow_to_bytes(
                t.model, t.standardizer, extra={"dataset": t.name, "steps": t.step_count}
            ),
            file_name=f"realnvp-{trainer.name}-step{trainer.step_count}.safetensors",
            mime="application/octet-stream",
            on_click="ignore",
            key=f"{self.widget_prefix}download-model",
        )
        c2.download_button(
            "Download 2,000 samples (.csv)",
            data=lambda t=trainer: "x,y\n" + "\n".join(f"{a:.6g},{b:.6g}" for a, b in t.sample(2000, seed=0)),
            file_name=f"realnvp-{trainer.name}-samples.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"{self.widget_prefix}download-samples",
        )
