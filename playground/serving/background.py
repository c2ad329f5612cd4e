"""Train in a background thread while a UI draws: the loop a live view needs, without blocking its redraws.

:class:`BackgroundTraining` advances a :class:`~realnvp.training.Trainer` in short chunks on its own thread, evaluating
the held-out NLL a few times a second. A UI reads the trainer while holding :attr:`BackgroundTraining.lock` (the worker
takes the same lock around each chunk), calls :meth:`beat` on every redraw and :meth:`stop` on Pause. If the UI stops
beating (a closed tab), the worker stops by itself. A server-wide :class:`~playground.serving.scheduler.TrainingSlots` decides
who may train right now; a worker without a slot waits and reports its place in the queue.

>>> import time
>>> from realnvp.flow import FlowConfig
>>> from realnvp.training import Trainer
>>> trainer = Trainer.for_dataset("moons", n_points=500, flow=FlowConfig(n_layers=2), heldout_points=100)
>>> worker = BackgroundTraining(trainer).start()
>>> time.sleep(0.3); worker.stop()
>>> trainer.step_count > 0
True
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

from playground.serving.scheduler import TrainingSlots
from playground.serving.workers import TrainingPool
from realnvp.training import Trainer

__all__ = ["BackgroundTraining", "HandoverLock"]

# benchmarks: append {"t": wall-clock time, "slot": ..., "step": ...} after every chunk, so a room's training can be
# counted on the server, whatever its pages managed to show (bench/load.py sets it)
STEP_LOG = os.environ.get("REALNVP_STEP_LOG")


class HandoverLock:
    """A re-entrant lock that a busy worker hands over promptly to the threads waiting for it.

    A worker that re-takes a plain lock right after releasing it can starve a waiting reader for seconds (CPython
    locks are not fair: measured up to 2 s under GIL contention). Sleeping after every chunk to let readers in
    costs ~25% of the training speed on a virtual machine (a 0.5 ms sleep idles the vCPU, which wakes up cold).
    This lock counts the threads blocked on it, and :meth:`yield_to_waiters` sleeps only while someone waits.

    >>> lock = HandoverLock()
    >>> with lock:
    ...     lock.waiting
    0
    >>> lock.yield_to_waiters()  # nobody waits: returns at once
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """How many threads are blocked in :meth:`acquire` right now."""
        return self._waiting

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        if not blocking:
            return False
        with self._count_lock:
            self._waiting += 1
        try:
            return self._lock.acquire(timeout=timeout)
        finally:
            with self._count_lock:
                self._waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def owned(self) -> bool:
        """True when the calling thread holds the lock."""
        return self._lock._is_owned()

    def __enter__(self) -> HandoverLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def yield_to_waiters(self, max_wait_s: float = 0.05) -> None:
        """Call without holding the lock: sleep in short slices while other threads wait for it (bounded)."""
        deadline = time.monotonic() + max_wait_s
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0.0002)


class BackgroundTraining:
    """A worker thread that trains ``trainer`` in chunks until stopped, abandoned, or an error occurs."""

    def __init__(
        self,
        trainer: Trainer,
        slots: TrainingSlots | None = None,
        slot_id: str = "worker",
        chunk_steps: int = 10,  # steps per chunk: the lock is released between chunks
        eval_every_s: float = 0.2,
        abandon_after_s: float = 20.0,
        lock: HandoverLock | None = None,
        pace_s: float = 0.0,
        on_display: Callable[[Trainer], None] | None = None,
        display_every_s: float = 0.15,
        pool: TrainingPool | None = None,
        pool_budget_s: float = 0.06,
        view_request: tuple[int, int, int] | None = None,
        on_view: Callable[[tuple], None] | None = None,
    ):
        self.trainer = trainer
        self.slots = slots
        self.slot_id = slot_id
        self.chunk_steps = int(chunk_steps)
        self.eval_every_s = float(eval_every_s)
        self.abandon_after_s = float(abandon_after_s)
        self.pace_s = float(pace_s)  # > 0: at most one chunk per pace_s seconds (slow motion); 0: as fast as possible
        self.lock = lock or HandoverLock()
        # called on the worker thread, lock held, every display_every_s: a UI computes what it will draw here
        # (a density grid, samples), so its own thread never waits for a chunk or competes for the GIL
        self.on_display = on_display
        self.display_every_s = float(display_every_s)
        # with a pool, chunks train in a worker process for about pool_budget_s each (whole chunks of chunk_steps)
        self.pool = pool
        self.pool_budget_s = float(pool_budget_s)
        # with a pool and view_request=(resolution, samples, seed), the worker process computes what the page draws
        # and on_view((step, bounds, xs, ys, log_p, samples)) adopts it (lock held) instead of on_display(trainer)
        self.view_request = view_request
        self.on_view = on_view
        # the page's own redraw period, set by pace_to_page: views, held-out evaluations and a pool's chunks follow it
        self._base = (self.display_every_s, self.eval_every_s, self.pool_budget_s)
        self.queue_position = 0  # 0: training (or stopped); n > 0: waiting, n - 1 sessions ahead
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._last_beat = time.monotonic()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BackgroundTraining:
        if not self.running:
            self._stop.clear()
            self.beat()
            self._thread = threading.Thread(target=self._run, name=f"train-{self.slot_id}", daemon=True)
            self._thread.start()
        return self

    def beat(self) -> None:
        """Tell the worker someone is still watching (call on every redraw)."""
        self._last_beat = time.monotonic()

    def pace_to_page(self, refresh_s: float) -> None:
        """The page redraws every ``refresh_s`` seconds: prepare what it draws about that often, no faster.

        A page slowed down in a busy room (2 s between redraws) does not need a density grid every 0.15 s: with
        ``refresh_s`` given, the view is computed every ``0.75 × refresh_s`` (never more often than the
        ``display_every_s`` asked for at construction), the held-out NLL every ``refresh_s / 4`` (at least
        ``eval_every_s``), and a pool's chunks last up to ``refresh_s / 8`` (at least ``pool_budget_s``, at most
        0.25 s), so fewer state round trips. The time saved goes to training.

        >>> from realnvp.flow import FlowConfig
        >>> from realnvp.training import Trainer
        >>> worker = BackgroundTraining(Trainer.for_dataset("moons", n_points=200, flow=FlowConfig(n_layers=2)))
        >>> worker.pace_to_page(2.0); worker.display_every_s, worker.eval_every_s, worker.pool_budget_s
        (1.5, 0.5, 0.25)
        >>> worker.pace_to_page(0.1); worker.display_every_s, worker.eval_every_s, worker.pool_budget_s
        (0.15, 0.2, 0.06)
        """
        display, evaluate, budget = self._base
        refresh_s = max(0.0, float(refresh_s))
        self.display_every_s = max(display, 0.75 * refresh_s)
        self.eval_every_s = max(evaluate, refresh_s / 4)
        self.pool_budget_s = min(max(budget, refresh_s / 8), max(budget, 0.25))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop after the current chunk (returns once the worker has finished it) and release the slot."""
        self._stop.set()
        if self.slots is not None:
            self.slots.wake()  # a queued worker waiting for its turn sees the stop at once
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.queue_position = 0
        if self.slots is not None:
            self.slots.release(self.slot_id)

    def _run(self) -> None:
        last_eval = last_display = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() - self._last_beat > self.abandon_after_s:
                    break  # nobody is watching any more
                if self.slots is not None:
                    self.queue_position = self.slots.request(self.slot_id)
                    if self.queue_position > 0:
                        self.slots.wait_for_change(0.2)  # woken when a slot is handed on (or on stop)
                        continue
                chunk_started = time.monotonic()
                remote = self.pool is not None and self.pool.accepts(self.trainer)
                remote_view = remote and self.on_view is not None and self.view_request is not None
                shown = None
                if remote:
                    # trained in a worker process; the page may read the trainer meanwhile
                    evaluate = chunk_started - last_eval >= self.eval_every_s
                    due = remote_view and chunk_started - last_display >= self.display_every_s
                    budget = self.pool_budget_s if self.pace_s == 0 else 0.0  # slow motion: one chunk at a time
                    _, shown = self.pool.train_and_view(
                        self.trainer,
                        self.chunk_steps,
                        budget,
                        evaluate=evaluate,
                        lock=self.lock,
                        view=self.view_request if due else None,
                    )
                    if evaluate:
                        last_eval = chunk_started
                with self.lock:
                    if not remote:
                        self.trainer.step(self.chunk_steps)
                        if time.monotonic() - last_eval >= self.eval_every_s:
                            self.trainer.evaluate()
                            last_eval = time.monotonic()
                    now = time.monotonic()
                    if shown is not None:
                        self.on_view(shown)
                        last_display = now
                    elif not remote_view and self.on_display is not None and now - last_display >= self.display_every_s:
                        self.on_display(self.trainer)
                        last_display = now
                if STEP_LOG:
                    with open(STEP_LOG, "a") as log:
                        log.write(json.dumps({"t": time.time(), "slot": self.slot_id, "step": self.trainer.step_count}))
                        log.write("\n")
                self.lock.yield_to_waiters()  # let a waiting reader in; no sleep when nobody waits
                if self.pace_s > 0:
                    self._stop.wait(max(0.0, self.pace_s - (time.monotonic() - chunk_started)))
            with self.lock:
                self.trainer.evaluate()
                if self.on_display is not None:
                    self.on_display(self.trainer)
        except Exception as err:  # surfaced by the UI; the trainer and its history are kept
            self.error = err
        finally:
            self.queue_position = 0
            if self.slots is not None:
                self.slots.release(self.slot_id)
