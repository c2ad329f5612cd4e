"""The Race page's Streamlit parts: the race's controls, Play/Pause/Step/Reset for every contestant at once, and
the live fragment (metrics, densities side by side, the NLL chart, the results table).

Streamlit glue only: the race itself is :class:`playground.serving.race.Race`, its configuration and URL
:mod:`playground.views.race`, its figures :mod:`playground.plots.race`. Test hooks: the buttons ``race-play``,
``race-pause``, ``race-step``, ``race-reset``; the containers ``race-steps-<i>`` and ``race-nll-<i>`` (contestant
``i``'s step count and held-out NLL) and ``race-results`` (the table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from playground.components.layout import folding_row
from playground.components.live_chart import live_chart
from playground.components.transport import notice_slot, queue_notice, transport_row
from playground.plots import race as plots
from playground.serving.race import STEP_BUTTON_STEPS, RaceState
from playground.serving.runtime import current_device, session_id, training_slots
from playground.settings import CHOICES, Settings
from playground.state import FRAME_SECONDS
from playground.views.race import (
    MAX_CONTESTANTS,
    MIN_CONTESTANTS,
    RACE_PRESETS,
    RaceConfig,
    results_rows,
    to_query,
)
from realnvp.datasets import DATASETS, DEFAULT_NOISE

__all__ = ["RaceView"]

FRAME = max(FRAME_SECONDS, 0.25)  # four to five charts per frame: a little slower than the Playground's
EDITED = ("coupling", "n_layers", "width", "scale", "lr", "batch_size")  # what the editors offer per contestant


def _options(values: list, current) -> list:
    return sorted(set(values) | {current})


class RaceView:
    """Controls, transport and the live fragment for one :class:`~playground.serving.race.RaceState`."""

    def __init__(self, state: RaceState, on_config: Callable[[RaceConfig], None] | None = None):
        self.state = state
        self.on_config = on_config or (lambda config: None)
        self.slot_id = f"{session_id()}/race"
        if state.device != current_device():
            state.device = current_device()
            state.reset(f"Race reset to train on {state.device.upper()}.")
        if state.trainer is None:
            notice = state.notice
            state.reset()
            state.notice = notice
        if "race-n" not in st.session_state:
            self.sync_widgets()

    # -- widgets <-> configuration ------------------------------------------------------------------------------------
    @staticmethod
    def _key(i: int, name: str) -> str:
        return f"race-c{i}-{name}"

    def sync_widgets(self) -> None:
        config = self.state.config
        preset = to_query(config).get("race")
        st.session_state["race-preset"] = preset if preset in RACE_PRESETS else None  # None: a race of one's own
        st.session_state["race-n"] = len(config.contestants)
        st.session_state["race-dataset"] = config.dataset
        st.session_state["race-seed"] = config.seed
        for i, contestant in enumerate(config.contestants):
            for name in EDITED:
                st.session_state[self._key(i, name)] = getattr(contestant, name)

    def _set_config(self, config: RaceConfig, reason: str) -> None:
        self.state.set_config(config, reason)
        self.on_config(config)

    def on_preset(self) -> None:
        name = st.session_state.get("race-preset")
        if name in RACE_PRESETS:
            preset = RACE_PRESETS[name]
            self._set_config(preset.config, f"“{preset.title}”: {preset.what_to_watch}")
            self.sync_widgets()

    def on_edit(self) -> None:
        config = self.state.config
        n = int(st.session_state.get("race-n", len(config.contestants)))
        contestants = list(config.contestants[:n])
        while len(contestants) < n:
            contestants.append(Settings())
        edited = []
        for i, contestant in enumerate(contestants):
            values = {name: st.session_state.get(self._key(i, name), getattr(contestant, name)) for name in EDITED}
            edited.append(replace(contestant, **values))
        dataset = st.session_state.get("race-dataset", config.dataset)
        noise = config.noise if dataset == config.dataset else DEFAULT_NOISE[dataset]
        new = replace(
            config,
            dataset=dataset,
            noise=noise,
            seed=int(st.session_state.get("race-seed", config.seed)),
            contestants=tuple(edited),
        )
        self._set_config(new, "Race reset: every contestant starts again from the same seed.")
        self.sync_widgets()

    # -- controls ---------------------------------------------------------------------------------------------------
    def controls(self) -> None:
        config = self.state.config
        top = st.columns([2, 1, 1, 1])
        top[0].selectbox(
            "Race",
            list(RACE_PRESETS),
            placeholder="a race of your own (edit the contestants below)",
            format_func=lambda k: RACE_PRESETS[k].title,
            key="race-preset",
            on_change=self.on_preset,
        )
        top[1].radio(
            "Contestants",
            list(range(MIN_CONTESTANTS, MAX_CONTESTANTS + 1)),
            horizontal=True,
            key="race-n",
            on_change=self.on_edit,
        )
        top[2].selectbox("Dataset", DATASETS, key="race-dataset", on_change=self.on_edit)
        top[3].number_input("Seed", 0, 2**31 - 1, step=1, key="race-seed", on_change=self.on_edit)
        with st.expander("Contestants: architecture and optimiser", expanded=False):
            columns = st.columns(len(config.contestants))
            for i, (column, contestant) in enumerate(zip(columns, config.contestants, strict=True)):
                with column:
                    st.markdown(f"**{config.labels[i]}**")
                    st.radio("Coupling", CHOICES["coupling"], key=self._key(i, "coupling"), on_change=self.on_edit)
                    st.slider("Layers", 1, 16, key=self._key(i, "n_layers"), on_change=self.on_edit)
                    st.select_slider(
                        "Width",
                        _options([16, 32, 64, 128, 256], contestant.width),
                        key=self._key(i, "width"),
                        on_change=self.on_edit,
                    )
                    st.selectbox("Scale (affine)", CHOICES["scale"], key=self._key(i, "scale"), on_change=self.on_edit)
                    st.select_slider(
                        "Learning rate",
                        _options([1e-4, 3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2], contestant.lr),
                        key=self._key(i, "lr"),
                        format_func=lambda v: f"{v:g}",
                        on_change=self.on_edit,
                    )
                    st.select_slider(
                        "Batch size",
                        _options([32, 64, 128, 256, 512, 1024, 2048], contestant.batch_size),
                        key=self._key(i, "batch_size"),
                        on_change=self.on_edit,
                    )

    # -- transport ----------------------------------------------------------------------------------------------------
    def on_play(self) -> None:
        self.state.start_training(training_slots(), self.slot_id)

    def on_step(self) -> None:
        self.state.stop_training()
        try:
            self.state.advance()
        except (RuntimeError, ValueError) as err:
            self.state.notice = f"Training stopped after an error ({type(err).__name__}: {err}). The models are kept."

    def on_reset(self) -> None:
        self.state.reset("Race reset: fresh weights for every contestant, the same data and seed.")

    def transport(self) -> None:
        state = self.state
        transport_row(
            "race-",
            state.playing,
            self.on_play,
            state.stop_training,
            self.on_step,
            self.on_reset,
            step_help=f"Every contestant trains exactly {STEP_BUTTON_STEPS} steps, then the race pauses",
            running_label="racing…",
            status_width=3,
        )
        with notice_slot():
            if state.notice:
                st.info(state.notice)
            for note in state.notes:
                st.warning(note, icon=":material/link:")

    # -- the live fragment --------------------------------------------------------------------------------------------
    def live(self) -> None:
        self._was_playing = self.state.playing
        st.fragment(run_every=FRAME if self._was_playing else None)(self._frame)()

    def _frame(self) -> None:
        state = self.state
        playing = state.playing
        if playing:
            state.worker.beat()
            state.record_frame()
        err = state.take_error()
        if err is not None:
            state.notice = f"Training stopped after an error ({type(err).__name__}: {err}). The models are kept."
        if self._was_playing and not playing:
            st.rerun()  # the race stopped by itself: a full rerun shows "paused" and stops the timer
        with state.lock:
            race = state.trainer
            results = race.results()
            display = state.current_display()
            entropy = race.entropy
        with notice_slot():
            queue_notice(state.playing, state.queue_position)
        columns = st.columns(len(results))
        titles = []
        for i, (column, r) in enumerate(zip(columns, results, strict=True)):
            with column:
                st.markdown(f"**{r.label}**")
                m = folding_row(f"race-numbers-{i}").columns(3)
                with m[0].container(key=f"race-steps-{i}"):
                    st.metric("Step", f"{r.steps:,}")
                with m[1].container(key=f"race-nll-{i}"):
                    st.metric("Held-out NLL", "—" if r.nll is None else f"{r.nll:.3f}")
                rate = r.steps_per_second
                m[2].metric("Steps/s", "—" if rate is None else f"{rate:,.0f}", help="Its own speed, while it trains")
            gap = "" if r.gap is None else f" · gap {r.gap:+.3f}"
            titles.append(f"{r.label} · step {r.steps:,}{gap}")
        specs = plots.race_density_specs(display.xs, display.ys, display.log_p, titles)
        for i, (column, spec) in enumerate(zip(columns, specs, strict=True)):
            with column:
                live_chart(spec, key=f"race-density-{i}")
        live_chart(plots.race_nll_spec(results, entropy), key="race-nll-chart")
        with st.container(key="race-results"):
            st.dataframe(results_rows(results), hide_index=True)
