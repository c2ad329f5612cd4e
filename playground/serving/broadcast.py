"""Let a room follow the speaker's run: a server-wide registry of read-only live views.

A speaker's Playground session *publishes* what its charts show (the figure dicts it already built, the step count,
the metrics) into a :class:`Broadcast` under an unguessable id; any number of followers open ``/?follow=<id>`` and
draw the latest publication. A follower never holds the speaker's trainer, lock or worker — only the published
snapshot — so it costs the server drawing, never training, and it cannot pause, reset or retune the run. A broadcast
that the speaker stopped, or that has not been refreshed for :data:`STALE_AFTER_S` (the speaker's tab closed), is
reported as ended.

>>> room = Broadcasts()
>>> b = room.open()
>>> b.publish(step=10, metrics={"nll": 1.2}, figures={}, title="moons")
>>> room.get(b.id).step, room.get("not-an-id")
(10, None)
>>> room.close(b.id); room.get(b.id).ended
True
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field

__all__ = ["Broadcast", "Broadcasts", "STALE_AFTER_S"]


class _Encoder(json.JSONEncoder):
    """Figure dicts hold plain lists, numbers and base64 strings; numpy scalars become Python numbers."""

    def default(self, o):
        return o.item() if hasattr(o, "item") else super().default(o)


STALE_AFTER_S = 30.0  # no publication for this long: the speaker's session is gone
_KEEP_ENDED_S = 3600.0  # an ended broadcast still answers "this run ended" for an hour


@dataclass
class Broadcast:
    """One speaker's latest publication. Written by the speaker's session, read by followers (replaced whole)."""

    id: str
    step: int = 0
    metrics: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    title: str = ""
    playing: bool = False
    published_at: float = field(default_factory=time.monotonic)
    stopped: bool = False
    revision: int = 0
    _json_cache: tuple | None = field(default=None, repr=False)
    _followers: dict = field(default_factory=dict, repr=False)  # follower id -> last time it drew

    def seen(self, follower_id: str) -> None:
        """A follower drew a frame (the count of recent ones sets everyone's refresh period)."""
        self._followers[follower_id] = time.monotonic()

    def follower_count(self, within_s: float = 5.0) -> int:
        """Followers that drew a frame within the last ``within_s`` seconds.

        >>> b = Broadcast("x"); b.seen("a"); b.seen("b"); b.follower_count()
        2
        """
        now = time.monotonic()
        for key, last in list(self._followers.items()):
            if now - last > 60.0:
                self._followers.pop(key, None)
        return sum(1 for last in list(self._followers.values()) if now - last <= within_s)

    def refresh_period(self) -> float:
        """How often each follower redraws: twice a second for a small room, slower for a big one, so a room of
        phones costs the server a bounded number of frames per second (about 20-30) whatever its size.

        >>> Broadcast("x").refresh_period()
        0.5
        """
        return max(0.5, self.follower_count() / 25.0)

    def publish(self, step: int, metrics: dict, figures: dict, title: str = "", playing: bool = False) -> None:
        """Replace the snapshot (the figure dicts are shared, never mutated afterwards by the speaker)."""
        self.step, self.metrics, self.figures, self.title, self.playing = step, dict(metrics), figures, title, playing
        self.published_at = time.monotonic()
        self.revision += 1

    def figure_json(self) -> tuple[dict[str, str], dict[str, int]]:
        """The figures as JSON text and their heights, serialised once per publication for every follower."""
        cached = self._json_cache
        if cached is None or cached[0] != self.revision:
            texts = {name: json.dumps(spec, cls=_Encoder) for name, spec in self.figures.items()}
            heights = {name: int(spec.get("layout", {}).get("height") or 420) for name, spec in self.figures.items()}
            cached = self._json_cache = (self.revision, texts, heights)
        return cached[1], cached[2]

    @property
    def ended(self) -> bool:
        return self.stopped or time.monotonic() - self.published_at > STALE_AFTER_S


class Broadcasts:
    """Thread-safe id -> :class:`Broadcast` map for one server process (Streamlit sessions are its threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: dict[str, Broadcast] = {}

    def open(self) -> Broadcast:
        """A new broadcast with a 128-bit random url-safe id."""
        with self._lock:
            self._forget_old()
            item = Broadcast(id=secrets.token_urlsafe(16))
            self._items[item.id] = item
            return item

    def get(self, broadcast_id: str) -> Broadcast | None:
        with self._lock:
            return self._items.get(str(broadcast_id)[:64])

    def close(self, broadcast_id: str) -> None:
        with self._lock:
            item = self._items.get(broadcast_id)
            if item is not None:
                item.stopped = True

    def _forget_old(self) -> None:
        now = time.monotonic()
        for key, item in list(self._items.items()):
            if now - item.published_at > _KEEP_ENDED_S:
                del self._items[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
