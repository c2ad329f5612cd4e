"""Run :func:`realnvp.fit_points` on a thread of its own, so a page can show its progress and stop it.

A Streamlit script run that a click interrupts would lose a fit running inside it; a :class:`FitJob` keeps going
between reruns, and the page only reads :attr:`FitJob.progress` and, when it is done, :attr:`FitJob.result`.
With ``slots`` (the room's :class:`~playground.serving.scheduler.TrainingSlots`) a fit waits for a free slot before
it starts and holds it while it runs, like a Playground session; a fit is short (its time budget), so it is not
time-sliced.

>>> import numpy as np
>>> job = FitJob(np.random.default_rng(0).normal(size=(120, 2)), seed=0, budget_s=None, max_steps=30).start()
>>> job.wait(60) and job.result is not None and job.error is None
True
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

__all__ = ["FitJob"]


class FitJob:
    """One fit of a user's points: ``start()``, then poll ``running``/``progress``; ``stop()`` ends it early
    (the fit still returns the best weights it found so far)."""

    def __init__(self, points: np.ndarray, *, slots=None, session: str | None = None, **fit_options: Any):
        self.points = np.asarray(points, dtype=np.float64)
        self.fit_options = fit_options
        self.slots, self.session = slots, session
        self.progress: Any = None  # the latest progress report of the fit
        self.result = None  # the PointsFit, once done
        self.error: str | None = None
        self.started = 0.0
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="points-fit", daemon=True)

    def start(self) -> FitJob:
        self.started = time.monotonic()
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _on_progress(self, info: Any) -> bool:
        self.progress = info
        if self.slots is not None and self.session is not None:
            self.slots.request(self.session)  # keep the slot's lease: the room counts this fit as training
        return not self._stop.is_set()

    def _run(self) -> None:
        import torch

        from realnvp import fit_points

        torch.set_num_threads(1)
        try:
            if self.slots is not None and self.session is not None:
                while self.slots.request(self.session) != 0 and not self._stop.is_set():
                    time.sleep(0.2)  # queued behind other sessions' training
            self.result = fit_points(self.points, on_progress=self._on_progress, **self.fit_options)
        except ValueError as err:  # the library's "what was wrong and what is accepted"
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user; the page and its other state survive
            self.error = f"the fit failed ({type(err).__name__}: {err})"
        finally:
            if self.slots is not None and self.session is not None:
                self.slots.release(self.session)
            self._done.set()
