"""The Playground's session state: one small object holding the settings, the trainer and the transport state.

Streamlit glue only: the maths is in `realnvp`. Other pages read ``st.session_state["playground"].trainer``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from playground.serving.background import BackgroundTraining, HandoverLock
from playground.serving.scheduler import TrainingSlots
from playground.serving.workers import TrainingPool, view_of
from playground.settings import Settings
from realnvp.image.data import load_image_data
from realnvp.image.training import ImageTrainer, downsample
from realnvp.training import Trainer

__all__ = [
    "TrainingTransport",
    "PlaygroundState",
    "ImageLiveState",
    "DisplaySnapshot",
    "FRAME_SECONDS",
    "STEP_BUTTON_STEPS",
    "PointsPageState",
    "FittedPoints",
]

# Streamlit restarts a fragment's timer when a run ends, so the refresh period is this plus the frame's own time
# (a few ms): about 5 redraws of every chart a second (measured 4.8–5.1 in Chromium here). The browser, the server
# and the training share 2 cores: faster frames cost training steps (0.18 s: median ~140 steps/s; 0.2 s: ~151).
FRAME_SECONDS = 0.2
# While playing, the training thread computes what the charts show this often (a little faster than the frames,
# so every frame has something new): the density grid and the samples; the held-out NLL every HELDOUT_SECONDS.
# Together they take ~10% of the training thread.
DISPLAY_SECONDS = 0.15
HELDOUT_SECONDS = 0.3
GRID_RESOLUTION = 56
WAITING_FRAME_SECONDS = 1.0  # while queued for a training slot
STEP_BUTTON_STEPS = 50  # what one press of Step trains (or the steps-per-frame setting when it is set)
SLOW_MOTION_PERIOD = 0.25  # with a fixed steps-per-frame, the worker trains that many steps per period
HELDOUT_POINTS = 4096
DISPLAY_POINTS = 400  # data points and samples drawn (all points are trained on); cheap for software WebGL
SAMPLES_SEED = 12345  # the same latent points every frame: the samples move with the model, they don't flicker

# Image flows, Train live: a step of the 8x8 flow takes ~70 ms on one core, so chunks are short (the lock is free
# between them); validation (180 images) every second, the sample grid twice a second.
IMAGE_LIVE_LR = 2e-3  # measured here: val 2.00 bits/dim after ~530 steps at 2e-3, ~860 at 1e-3
IMAGE_CHUNK_STEPS = 2
IMAGE_EVAL_SECONDS = 1.0
IMAGE_DISPLAY_SECONDS = 0.5
IMAGE_STEP_BUTTON_STEPS = 10


@dataclass(frozen=True)
class DisplaySnapshot:
    """What the live charts show for one training step: the density grid and the model's samples."""

    step: int
    bounds: tuple[float, float, float, float]
    xs: np.ndarray
    ys: np.ndarray
    log_p: np.ndarray
    samples: np.ndarray


@dataclass
class TrainingTransport:
    """What every live-training page shares: the background worker, its lock and the frame clock.

    Subclasses hold a ``trainer`` (anything with ``step(n)``, ``evaluate()`` and ``step_count``).
    """

    trainer: object | None = None
    notice: str | None = None  # one-line message about the last reset / change
    frame_times: deque = field(default_factory=lambda: deque(maxlen=20))  # (wall time, step) per drawn frame
    worker: BackgroundTraining | None = None
    lock: HandoverLock = field(default_factory=HandoverLock)  # held while the trainer is read or changed

    @property
    def playing(self) -> bool:
        return self.worker is not None and self.worker.running

    @property
    def queue_position(self) -> int:
        return self.worker.queue_position if self.playing else 0

    def start_worker(
        self,
        slots: TrainingSlots | None,
        slot_id: str,
        chunk_steps: int,
        eval_every_s: float,
        display_every_s: float,
        pace_s: float = 0.0,
        pool: TrainingPool | None = None,
    ) -> None:
        """Train in a background thread sharing the server through ``slots`` (no-op while already playing); the
        worker calls the subclass's ``_refresh_display_for(trainer)`` to prepare what the page draws."""
        if self.playing:
            return
        self.worker = BackgroundTraining(
            self.trainer,
            slots=slots,
            slot_id=slot_id,
            chunk_steps=chunk_steps,
            pace_s=pace_s,
            lock=self.lock,
            eval_every_s=eval_every_s,
            display_every_s=display_every_s,
            on_display=self._refresh_display_for,
            pool=pool,
            view_request=self._view_request(),
            on_view=self._adopt_view,
        ).start()

    def _view_request(self) -> tuple[int, int, int] | None:
        """``(resolution, samples, seed)`` of what a worker process may compute for the page; None: drawn here."""
        return None

    def _adopt_view(self, view: tuple) -> None:
        """Take what a worker computed for :meth:`_view_request` (lock held)."""

    def stop_training(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def take_error(self) -> BaseException | None:
        """The exception that stopped the background training, if any (reported once)."""
        if self.worker is None or self.worker.error is None:
            return None
        err, self.worker.error = self.worker.error, None
        return err

    def record_frame(self) -> None:
        self.frame_times.append((time.perf_counter(), self.trainer.step_count if self.trainer else 0))

    def steps_per_second(self) -> float | None:
        if len(self.frame_times) < 2:
            return None
        (t0, s0), (t1, s1) = self.frame_times[0], self.frame_times[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 >= s0 else None


@dataclass
class PlaygroundState(TrainingTransport):
    """Settings + trainer + transport for one browser session."""

    settings: Settings = field(default_factory=Settings)
    device: str = "cpu"
    trainer: Trainer | None = None
    display: DisplaySnapshot | None = None  # refreshed by the training thread while playing
    figures: dict | None = None  # the last drawn figures, reused while nothing moved
    figures_step: tuple | int = -1  # (step, square height, loss height) the figures were drawn for

    # -- transport ----------------------------------------------------------------------------------------------------

    def start_training(self, slots: TrainingSlots | None, slot_id: str, pool: TrainingPool | None = None) -> None:
        """Train in a background thread (sharing the server through ``slots``; in ``pool``'s worker processes if
        given) until :meth:`stop_training`."""
        spf = self.settings.steps_per_frame
        self.start_worker(
            slots,
            slot_id,
            pool=pool,
            chunk_steps=spf if spf > 0 else 5,
            eval_every_s=HELDOUT_SECONDS,
            display_every_s=DISPLAY_SECONDS,
            pace_s=SLOW_MOTION_PERIOD if spf > 0 else 0.0,
        )

    def reset(self, reason: str | None = None) -> None:
        """Build a fresh trainer from the settings (new data, new model, empty history)."""
        self.stop_training()
        self.worker = None
        s = self.settings
        self.trainer = Trainer.for_dataset(
            s.dataset,
            noise=s.noise,
            n_points=s.n_points,
            seed=s.seed,
            flow=s.flow_config(),
            optim=s.optim_config(),
            heldout_points=HELDOUT_POINTS,
            device=self.device,
        )
        self.trainer.evaluate()
        self.frame_times.clear()
        self.display = None
        self.figures, self.figures_step = None, -1
        self.notice = reason

    def apply(self, new: Settings) -> None:
        """Switch to ``new`` settings: optimiser knobs change live, anything else resets the model visibly."""
        with self.lock:
            self._apply(new)

    def _apply(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        if self.trainer is None or new.needs_reset(old):
            changed = [k for k, v in new.to_dict().items() if old.to_dict()[k] != v]
            self.reset(f"Model reset because {', '.join(changed)} changed." if changed else None)
            return
        if new.lr != old.lr:
            self.trainer.set_lr(new.lr)
        if new.batch_size != old.batch_size:
            self.trainer.set_batch_size(new.batch_size)
        if new.grad_clip != old.grad_clip:
            self.trainer.set_grad_clip(new.grad_clip)
        if (new.schedule, new.decay_steps) != (old.schedule, old.decay_steps):
            self.trainer.set_schedule(new.schedule, new.decay_steps)
        if new.steps_per_frame != old.steps_per_frame and self.worker is not None:
            spf = new.steps_per_frame
            self.worker.chunk_steps = spf if spf > 0 else 5
            self.worker.pace_s = SLOW_MOTION_PERIOD if spf > 0 else 0.0

    def advance(self) -> int:
        """One chunk of training (the Step button) followed by a held-out evaluation; returns the steps taken."""
        with self.lock:
            taken = self.trainer.step(self.settings.steps_per_frame or STEP_BUTTON_STEPS)
            self.trainer.evaluate()
        return taken

    def current_display(self) -> DisplaySnapshot:
        """The charts' data for the trainer's current step (call with :attr:`lock` held).

        While playing, the training thread keeps it fresh (it is at most one display period behind the step
        count); otherwise it is computed here when the model has moved.
        """
        if self.display is None or (not self.playing and self.display.step != self.trainer.step_count):
            self._refresh_display_for(self.trainer)
        return self.display

    def _refresh_display_for(self, trainer: Trainer) -> None:
        self._adopt_view(view_of(trainer, *self._view_request()))

    def _view_request(self) -> tuple[int, int, int]:
        return GRID_RESOLUTION, DISPLAY_POINTS, SAMPLES_SEED

    def _adopt_view(self, view: tuple) -> None:
        self.display = DisplaySnapshot(*view)


@dataclass(frozen=True)
class ImageSnapshot:
    """What the Train live tab shows for one step: the fixed-latent sample grid and the bits/dim curves."""

    step: int
    samples: object  # torch.Tensor (N, C, H, W) in [0, 1]
    temperature: float


@dataclass
class ImageLiveState(TrainingTransport):
    """The Image flows page's "Train live" tab: which data, the trainer, the worker and the last sample grid."""

    dataset: str = "digits"
    conditional: bool = False
    seed: int = 0
    lr: float = IMAGE_LIVE_LR
    temperature: float = 0.8
    trainer: ImageTrainer | None = None
    display: ImageSnapshot | None = None

    def reset(self, reason: str | None = None) -> None:
        """A fresh model on the chosen data (the worker stopped first); its untrained validation bits/dim."""
        self.stop_training()
        self.worker = None
        data = load_image_data("mnist") if self.dataset == "mnist-14x14" else load_image_data(self.dataset)
        if self.dataset == "mnist-14x14":
            data = downsample(data, 2)
        self.trainer = ImageTrainer(data, conditional=self.conditional, seed=self.seed, lr=self.lr)
        self.trainer.evaluate()
        self.frame_times.clear()
        self.display = None
        self.notice = reason

    def set_lr(self, lr: float) -> None:
        """Change the learning rate live (the trainer's next step uses it)."""
        self.lr = lr
        if self.trainer is not None:
            with self.lock:
                self.trainer.lr = lr

    def start_training(self, slots: TrainingSlots | None, slot_id: str) -> None:
        """Train in the background, sharing the server's training slots with the Playground's sessions."""
        self.start_worker(slots, slot_id, IMAGE_CHUNK_STEPS, IMAGE_EVAL_SECONDS, IMAGE_DISPLAY_SECONDS)

    def advance(self) -> int:
        """The Step button: a few steps, then a validation pass."""
        with self.lock:
            taken = self.trainer.step(IMAGE_STEP_BUTTON_STEPS)
            self.trainer.evaluate()
        return taken

    def current_display(self) -> ImageSnapshot:
        """The sample grid for the current step and temperature (call with :attr:`lock` held)."""
        d = self.display
        if d is None or d.temperature != self.temperature or (not self.playing and d.step != self.trainer.step_count):
            self._refresh_display_for(self.trainer)
        return self.display

    def _refresh_display_for(self, trainer: ImageTrainer) -> None:
        self.display = ImageSnapshot(trainer.step_count, trainer.sample_grid(self.temperature), self.temperature)


@dataclass
class FittedPoints:
    """A finished fit of the "Your own points" page and what it was fitted on (to trace scores to the file)."""

    fit: object  # realnvp.fit.PointsFit
    points: np.ndarray  # (n, 2), the data's own units
    names: tuple[str, str]  # the x and y column names
    row_numbers: np.ndarray  # the file's row number (as a spreadsheet shows it) of each point
    table: object  # pandas.DataFrame: every original column, indexed by row number
    source: str  # e.g. '“iris.csv”'
    filename: str
    for_layers: object | None = None  # playground.views.points.FitForLayers, made when the Layer page opens it


@dataclass
class PointsPageState:
    """The "Your own points" page's session state: the previewed data, a running fit and the last finished fit.

    A failed upload only sets ``error``: the previewed data and the fit in hand are kept.
    """

    candidate: dict | None = None  # points, report, source, raw, filename of the previewed data
    error: str | None = None
    clicked: list = field(default_factory=list)  # points added on the click canvas
    job: object | None = None  # playground.serving.fitting.FitJob while a fit runs
    job_data: FittedPoints | None = None  # what the running fit was given (its fit filled in when done)
    fitted: FittedPoints | None = None
