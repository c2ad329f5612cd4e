"""Fair sharing of a server's CPU between browser sessions that want to train at the same time.

:class:`TrainingSlots` lets at most ``capacity`` sessions train at once. The others wait in a FIFO queue and are told
their position. A holder keeps its slot by calling :meth:`TrainingSlots.request` every frame; when others are waiting
it hands the slot on after ``quantum`` seconds and joins the back of the queue, so everyone advances in turn. A
session that stops asking (paused, closed tab, crashed) loses its slot or queue place after ``lease`` seconds.
Thread-safe: Streamlit runs every session's script in its own thread of one process.

>>> slots = TrainingSlots(capacity=1, quantum=60, lease=5)
>>> slots.request("a"), slots.request("b")
(0, 1)
>>> slots.release("a"); slots.request("b")
0
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TrainingSlots"]


class TrainingSlots:
    """A server-wide cap on sessions training at the same moment, with a queue and time-slicing."""

    def __init__(
        self,
        capacity: int = 2,
        quantum: float = 5.0,
        lease: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.quantum = float(quantum)
        self.lease = float(lease)
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified whenever the holders change
        self._holders: dict[str, tuple[float, float]] = {}  # id -> (granted at, last seen)
        self._waiting: OrderedDict[str, float] = OrderedDict()  # id -> last seen, in arrival order

    def _expire(self, now: float) -> None:
        before = set(self._holders)
        for sid, (_, seen) in list(self._holders.items()):
            if now - seen > self.lease:
                del self._holders[sid]
        for sid, seen in list(self._waiting.items()):
            if now - seen > self.lease:
                del self._waiting[sid]
        # time-slicing: a holder past its quantum yields when someone is waiting
        others_waiting = len(self._waiting)
        for sid, (granted, _) in sorted(self._holders.items(), key=lambda kv: kv[1][0]):
            if others_waiting == 0:
                break
            if now - granted >= self.quantum:
                del self._holders[sid]
                self._waiting[sid] = now  # to the back of the queue
                others_waiting -= 1
        while self._waiting and len(self._holders) < self.capacity:
            sid, _ = self._waiting.popitem(last=False)
            self._holders[sid] = (now, now)
        if set(self._holders) != before:
            self._changed.notify_all()  # a waiting session may train now: wake it rather than let it poll

    def request(self, session_id: str) -> int:
        """Ask to train now: 0 means "go ahead" (a slot is held); n > 0 is the place in the queue (1 = next)."""
        with self._lock:
            now = self._clock()
            if session_id in self._holders:
                granted, _ = self._holders[session_id]
                self._holders[session_id] = (granted, now)
            else:
                self._waiting[session_id] = now
            self._expire(now)
            if session_id in self._holders:
                return 0
            return list(self._waiting).index(session_id) + 1

    def wait_for_change(self, timeout: float) -> None:
        """Block until the holders change (a slot was handed on or given up) or ``timeout`` seconds pass.

        A queued session waits here between its :meth:`request` calls, so the slot handed on to it is used at
        once instead of at its next poll (up to a poll period of a core idle at every hand-over).
        """
        with self._changed:
            self._expire(self._clock())
            self._changed.wait(timeout)

    def wake(self) -> None:
        """Wake every session blocked in :meth:`wait_for_change` (one of them is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def release(self, session_id: str) -> None:
        """Give up a slot or queue place (on Pause, Reset, or when a session ends)."""
        with self._lock:
            self._holders.pop(session_id, None)
            self._waiting.pop(session_id, None)
            self._expire(self._clock())

    def status(self) -> dict[str, int]:
        with self._lock:
            self._expire(self._clock())
            return {"training": len(self._holders), "waiting": len(self._waiting), "capacity": self.capacity}
