"""Run a race: two to four trainers on the same data, sharing one CPU thread fairly, in round-robin turns.

:class:`Race` owns one :class:`~realnvp.training.Trainer` per contestant of a
:class:`~playground.views.race.RaceConfig`, all built from the race's dataset, noise, points and seed (so every
contestant sees the same training points, the same held-out points and the same standardisation, and starts from
the same seed). It looks like a trainer to :class:`~playground.serving.background.BackgroundTraining`: ``step(n)``
runs ``n`` *rounds*, and in a round every contestant trains one turn. A turn is sized to take about ``turn_s``
seconds of that contestant's own training time (its steps per turn adapt to its measured step time), so every
contestant gets the same share of the CPU whatever its speed: a spline flow takes fewer, costlier steps per turn than
an affine one. Each contestant's clock counts only its own turns: its held-out NLL "against seconds" is against the
training time it actually used, and its steps/s is its own speed. The race holds one training slot of the server
(one thread), like any other session.

:meth:`Race.step_each` trains every contestant exactly ``n`` steps (the Step button): a race advanced that way is
reproducible step for step from its configuration — its URL.

>>> from playground.views.race import RaceConfig
>>> from playground.settings import Settings
>>> race = Race(RaceConfig(n_points=500, contestants=(Settings(n_layers=2), Settings(n_layers=1))), heldout_points=200)
>>> race.step_each(5)
>>> [t.step_count for t in race.trainers], len(race.results())
([5, 5], 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from playground.serving.scheduler import TrainingSlots
from playground.state import TrainingTransport
from playground.views.race import ContestantResult, RaceConfig
from realnvp.training import Trainer

__all__ = ["Race", "RaceDisplay", "RaceState", "TURN_SECONDS", "STEP_BUTTON_STEPS"]

TURN_SECONDS = 0.04  # a contestant's turn: short, so the worker releases the lock often and the race looks smooth
MAX_TURN_STEPS = 200
STEP_BUTTON_STEPS = 50  # Step: every contestant trains exactly this many steps
HELDOUT_POINTS = 4096
GRID_RESOLUTION = 48
EVAL_SECONDS = 0.3  # held-out NLL of every contestant this often (wall clock) while racing
DISPLAY_SECONDS = 0.3  # density grids this often


@dataclass
class _Lane:
    """One contestant's runtime: its trainer, its own training clock, its turn size and its evaluations."""

    trainer: Trainer
    seconds: float = 0.0  # training time used by this contestant's turns
    turn_steps: int = 1  # steps of its last turn
    credit: float = 0.0  # seconds of training it is owed (deficit round-robin)
    step_time: float | None = None  # smoothed seconds per step
    evals: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, held-out NLL)


class Race:
    """The contestants' trainers and a fair round-robin over them (see the module docstring).

    ``clock`` measures a turn (``time.perf_counter`` by default; tests pass a deterministic one).
    """

    def __init__(
        self,
        config: RaceConfig,
        *,
        device: str = "cpu",
        heldout_points: int = HELDOUT_POINTS,
        turn_s: float = TURN_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.config = config
        self.labels = config.labels
        self.turn_s = float(turn_s)
        self.clock = clock
        self.lanes = [
            _Lane(
                Trainer.for_dataset(
                    config.dataset,
                    noise=config.noise,
                    n_points=config.n_points,
                    seed=config.seed,
                    flow=c.flow_config(),
                    optim=c.optim_config(),
                    heldout_points=heldout_points,
                    device=device,
                )
            )
            for c in config.contestants
        ]
        self.rounds = 0
        self.evaluate()

    @property
    def trainers(self) -> list[Trainer]:
        return [lane.trainer for lane in self.lanes]

    @property
    def step_count(self) -> int:
        """Steps of all contestants together (what a transport's steps/s counts)."""
        return sum(lane.trainer.step_count for lane in self.lanes)

    @property
    def entropy(self) -> float | None:
        return self.lanes[0].trainer.entropy

    # -- training ----------------------------------------------------------------------------------------------------
    def _train(self, lane: _Lane, steps: int) -> float:
        """Train ``steps`` steps of one contestant on its own clock; returns the seconds they took."""
        start = self.clock()
        lane.trainer.step(steps)
        used = max(self.clock() - start, 0.0)
        lane.seconds += used
        per_step = used / max(steps, 1)
        lane.step_time = per_step if lane.step_time is None else 0.7 * lane.step_time + 0.3 * per_step
        return used

    def _turn(self, lane: _Lane) -> None:
        """One turn, deficit round-robin: a turn's worth of credit, spent in whole steps; the rest carries over
        (a contestant whose step costs more than a turn trains every few rounds, not more than its share)."""
        lane.credit += self.turn_s
        if lane.step_time is None:
            steps = 1  # measure first
        elif lane.credit <= 0:
            return
        else:
            steps = int(min(max(round(lane.credit / max(lane.step_time, 1e-9)), 1), MAX_TURN_STEPS))
        lane.turn_steps = steps
        lane.credit -= self._train(lane, steps)

    def step(self, rounds: int = 1) -> int:
        """``rounds`` round-robin rounds: each contestant trains one turn of about ``turn_s`` seconds."""
        for _ in range(int(rounds)):
            for lane in self.lanes:
                self._turn(lane)
            self.rounds += 1
        return int(rounds)

    def step_each(self, steps: int) -> None:
        """Every contestant trains exactly ``steps`` steps (deterministic: the same race gives the same models)."""
        for lane in self.lanes:
            self._train(lane, int(steps))

    def evaluate(self) -> list[float]:
        """Every contestant's held-out NLL now, recorded with its step and its own training seconds."""
        out = []
        for lane in self.lanes:
            trainer = lane.trainer
            while lane.evals and lane.evals[-1][0] > trainer.step_count:  # the NaN guard rewound it
                lane.evals.pop()
            nll = trainer.evaluate()
            record = (trainer.step_count, lane.seconds, nll)
            if lane.evals and lane.evals[-1][0] == trainer.step_count:
                lane.evals[-1] = record
            else:
                lane.evals.append(record)
            out.append(nll)
        return out

    # -- what the page shows -----------------------------------------------------------------------------------------
    def results(self) -> list[ContestantResult]:
        out = []
        for label, lane in zip(self.labels, self.lanes, strict=True):
            steps, seconds, nll = zip(*lane.evals, strict=True) if lane.evals else ((), (), ())
            trainer = lane.trainer
            out.append(
                ContestantResult(
                    label=label,
                    parameters=sum(p.numel() for p in trainer.model.parameters()),
                    steps=trainer.step_count,
                    train_seconds=lane.seconds,
                    eval_steps=tuple(steps),
                    eval_seconds=tuple(seconds),
                    heldout_nll=tuple(nll),
                    entropy=trainer.entropy,
                    events=len(trainer.history.events),
                )
            )
        return out

    def view_bounds(self) -> tuple[float, float, float, float]:
        """One window for every contestant (they share the data): identical axes side by side."""
        return self.lanes[0].trainer.view_bounds()

    def density_grids(self, resolution: int = GRID_RESOLUTION) -> RaceDisplay:
        bounds = self.view_bounds()
        grids = [lane.trainer.log_prob_grid(bounds, resolution=resolution) for lane in self.lanes]
        xs, ys = grids[0][0], grids[0][1]
        return RaceDisplay(tuple(t.step_count for t in self.trainers), bounds, xs, ys, [g[2] for g in grids])


@dataclass(frozen=True)
class RaceDisplay:
    """Every contestant's log-density on one shared grid, for the step counts in ``steps``."""

    steps: tuple[int, ...]
    bounds: tuple[float, float, float, float]
    xs: np.ndarray
    ys: np.ndarray
    log_p: list[np.ndarray]


@dataclass
class RaceState(TrainingTransport):
    """The Race page's session state: the configuration, the race (``trainer``), its worker and its display."""

    config: RaceConfig = field(default_factory=RaceConfig)
    device: str = "cpu"
    trainer: Race | None = None
    display: RaceDisplay | None = None
    notes: list[str] = field(default_factory=list)  # what the URL had to adjust

    def reset(self, reason: str | None = None) -> None:
        """A fresh race from the configuration: new trainers, the same data and seed for every contestant."""
        self.stop_training()
        self.worker = None
        self.trainer = Race(self.config, device=self.device)
        self.frame_times.clear()
        self.display = None
        self.notice = reason

    def set_config(self, config: RaceConfig, reason: str | None = None) -> None:
        if config != self.config or self.trainer is None:
            self.config = config
            self.notes = []  # what a link adjusted no longer applies
            self.reset(reason)

    def start_training(self, slots: TrainingSlots | None, slot_id: str) -> None:
        """Race in a background thread (one training slot of the server) until :meth:`stop_training`."""
        # one round per chunk: the lock is free between rounds
        self.start_worker(slots, slot_id, chunk_steps=1, eval_every_s=EVAL_SECONDS, display_every_s=DISPLAY_SECONDS)

    def advance(self, steps: int = STEP_BUTTON_STEPS) -> None:
        """The Step button: every contestant trains exactly ``steps`` steps, then all are evaluated."""
        with self.lock:
            self.trainer.step_each(steps)
            self.trainer.evaluate()

    def current_display(self) -> RaceDisplay:
        """The density grids for the current steps (call with :attr:`lock` held)."""
        steps = tuple(t.step_count for t in self.trainer.trainers)
        if self.display is None or (not self.playing and self.display.steps != steps):
            self._refresh_display_for(self.trainer)
        return self.display

    def _refresh_display_for(self, race: Race) -> None:
        self.display = race.density_grids()
