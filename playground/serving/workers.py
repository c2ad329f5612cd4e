"""Training in worker processes: a room's models train outside the process that serves its pages.

Streamlit serves every browser session from threads of one Python process. A training thread there competes with the
page serving (static files, websockets, every session's script reruns) for the GIL: with a dozen sessions the
training slows down and a newcomer's page waits. :class:`TrainingPool` keeps ``processes`` plain Python worker
processes (started with ``python -m playground.serving.workers``; they import torch and the library, never
streamlit), at a lower CPU priority than the server, so page serving comes first and training soaks up what is left.

The session's :class:`~realnvp.training.Trainer` stays in the server and stays the source of truth: for each chunk
the pool sends the trainer's :meth:`~realnvp.training.Trainer.export_state` to an idle worker, which keeps a twin
built once from :meth:`~realnvp.training.Trainer.blueprint`, imports the state, trains for a short time budget
(evaluating the held-out NLL if asked), and sends the state and the new history entries back. The result is
exactly what training in place would give (same weights, losses and shuffles). A learning rate (or any optimiser
setting) changed by the page while the chunk ran is kept. A worker that dies is restarted, and that chunk trains
in place instead. Messages are pickled over a private socket pair between this process and its own children.

>>> from realnvp.flow import FlowConfig
>>> from realnvp.training import Trainer
>>> trainer = Trainer.for_dataset("moons", n_points=500, heldout_points=100, flow=FlowConfig(n_layers=2))
>>> with TrainingPool(processes=1) as pool:
...     kept = pool.train(trainer, steps=5, budget_s=0.0, evaluate=True)
>>> kept, trainer.step_count, len(trainer.history.heldout_nll)
(5, 5, 1)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

import torch

from realnvp.training import History, Trainer

__all__ = ["TrainingPool", "view_of"]

TWINS_PER_WORKER = 32  # trainers a worker keeps built (least recently used dropped first)


class _Worker:
    """One child process and the server's end of its socket."""

    def __init__(self, nice: int):
        parent_end, child_end = socket.socketpair()
        env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "playground.serving.workers", str(child_end.fileno()), str(int(nice))],
            pass_fds=[child_end.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        child_end.close()
        self.conn = Connection(parent_end.detach())
        self.known: set[str] = set()  # trainer keys this worker has built (it may have dropped some since)
        self._ready = False

    @property
    def ready(self) -> bool:
        """Whether the worker has finished importing torch and the library (it says so once, when it has)."""
        if not self._ready and self.conn.poll(0):
            self._ready = self.conn.recv_bytes() == b"ready"
        return self._ready

    def ask(self, message: tuple) -> tuple:
        if not self._ready:
            self._ready = self.conn.recv_bytes() == b"ready"
        self.conn.send_bytes(_dumps(message))
        return _loads(self.conn.recv_bytes())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError):
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)


class TrainingPool:
    """``processes`` worker processes that train :class:`~realnvp.training.Trainer` chunks for server threads.

    :meth:`train` is called from any thread (each session's background-training thread); it blocks while a worker
    trains, without holding the GIL. ``nice`` is added to the workers' CPU niceness (0 = same priority as the server).
    """

    def __init__(self, processes: int = 1, nice: int = 10):
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.nice = int(nice)
        self._workers = [_Worker(self.nice) for _ in range(int(processes))]
        self._idle: queue.Queue[int] = queue.Queue()
        for i in range(len(self._workers)):
            self._idle.put(i)
        self._keys_lock = threading.Lock()
        self.restarts = 0  # workers restarted after dying
        self.fallbacks = 0  # chunks trained in place because a worker failed

    @property
    def processes(self) -> int:
        return len(self._workers)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until every worker has started (imported torch); False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            while not worker.ready:
                if time.monotonic() > deadline or worker.process.poll() is not None:
                    return False
                worker.conn.poll(0.05)
        return True

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    @staticmethod
    def accepts(trainer: Any) -> bool:
        """Whether this pool can train ``trainer``: a 2-D :class:`~realnvp.training.Trainer` on the CPU."""
        return type(trainer) is Trainer and trainer.device.type == "cpu"

    def _key(self, trainer: Trainer) -> str:
        with self._keys_lock:
            key = getattr(trainer, "_pool_key", None)
            if key is None:
                key = trainer._pool_key = uuid.uuid4().hex
            return key

    def train(self, trainer: Trainer, steps: int, budget_s: float = 0.05, evaluate: bool = False, lock=None) -> int:
        """Train ``trainer`` by whole chunks of ``steps`` steps until ``budget_s`` seconds have passed (at least one
        chunk), evaluating the held-out NLL at the end if ``evaluate``; returns the steps kept.

        With ``lock`` (the lock the page reads the trainer under), the state is taken and applied under it, and the
        page may read the trainer, or change its optimiser settings, while the worker trains.
        """
        return self.train_and_view(trainer, steps, budget_s, evaluate, lock)[0]

    def train_and_view(
        self,
        trainer: Trainer,
        steps: int,
        budget_s: float = 0.05,
        evaluate: bool = False,
        lock=None,
        view: tuple[int, int, int] | None = None,
    ) -> tuple[int, tuple | None]:
        """:meth:`train`, and with ``view=(resolution, n_samples, seed)`` also what a live chart draws after the
        chunk, computed by the worker: ``(step, bounds, xs, ys, log_p, samples)`` (see :func:`view_of`), or None."""
        key = self._key(trainer)
        guard = lock if lock is not None else contextlib.nullcontext()
        with guard:
            sent = trainer.export_state()
            state = _dumps(sent)  # a snapshot: the page may change the trainer from now on
        index = self._idle.get()
        if not self._workers[index].ready:  # still starting (importing torch): train here meanwhile
            self._idle.put(index)
            with guard:
                return _train_here(trainer, steps, evaluate), _view_here(trainer, view)
        try:
            worker = self._workers[index]
            try:
                blueprint = None if key in worker.known else trainer.blueprint()
                job = (int(steps), float(budget_s), bool(evaluate), view)
                reply = worker.ask((key, blueprint, state, *job))
                if reply[0] == "need-blueprint":
                    reply = worker.ask((key, trainer.blueprint(), state, *job))
                worker.known.add(key)
            except (OSError, EOFError, pickle.UnpicklingError):
                self._restart(index)
                reply = None
        finally:
            self._idle.put(index)
        with guard:
            if reply is None:  # the worker died: train this chunk here
                self.fallbacks += 1
                return _train_here(trainer, steps, evaluate), _view_here(trainer, view)
            if reply[0] == "error":
                raise RuntimeError(f"training failed in a worker process: {reply[1]}")
            _, new_state, tail, floor, shown = reply
            return _apply(trainer, sent, new_state, tail, floor), shown

    def _restart(self, index: int) -> None:
        self._workers[index].close()
        self._workers[index] = _Worker(self.nice)
        self.restarts += 1

    def close(self) -> None:
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def view_of(trainer: Trainer, resolution: int, n_samples: int, seed: int) -> tuple:
    """What a live 2-D chart draws: ``(step, bounds, xs, ys, log_p, samples)`` (density grid in the data's window,
    the model's samples with a fixed seed)."""
    bounds = trainer.view_bounds()
    xs, ys, log_p = trainer.log_prob_grid(bounds, resolution=resolution)
    return trainer.step_count, bounds, xs, ys, log_p, trainer.sample(n_samples, seed=seed)


def _view_here(trainer: Trainer, view: tuple[int, int, int] | None) -> tuple | None:
    return None if view is None else view_of(trainer, *view)


def _train_here(trainer: Trainer, steps: int, evaluate: bool) -> int:
    before = trainer.step_count
    trainer.step(int(steps))
    if evaluate:
        trainer.evaluate()
    return trainer.step_count - before


def _apply(trainer: Trainer, sent: dict, new_state: dict, tail: History, floor: int) -> int:
    """Bring the server's trainer to the worker's result, keeping optimiser settings the page changed meanwhile."""
    before = trainer.step_count
    changed_optim = trainer.optim if trainer.optim is not sent["optim"] else None
    trainer.import_state(new_state)
    if changed_optim is not None:
        trainer.optim = changed_optim
        trainer._apply_lr()
    history = trainer.history
    history.truncate(floor)  # the NaN guard rewound past what was already recorded here
    history.steps.extend(tail.steps)
    history.train_nll.extend(tail.train_nll)
    history.eval_steps.extend(tail.eval_steps)
    history.heldout_nll.extend(tail.heldout_nll)
    history.events.extend(tail.events)
    return trainer.step_count - before


def _pack(obj: Any) -> Any:
    """Tensors as numpy arrays (pickled as raw buffers: ~50× faster than a tensor's own pickling)."""
    if isinstance(obj, torch.Tensor):
        return _PackedTensor(obj.detach().cpu().numpy())
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(_pack(v) for v in obj)
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, _PackedTensor):
        return torch.from_numpy(obj.array)
    if isinstance(obj, dict):
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(_unpack(v) for v in obj)
    return obj


class _PackedTensor:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __reduce__(self):
        return (_PackedTensor, (self.array,))


def _dumps(obj: Any) -> bytes:
    return pickle.dumps(_pack(obj), protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes) -> Any:
    # only ever bytes from this server or its own worker children, over a private socket pair (never a file)
    return _unpack(pickle.loads(data))  # noqa: S301


# -- the worker process --------------------------------------------------------------------------------------------
def _serve(conn: Connection) -> None:
    twins: OrderedDict[str, Trainer] = OrderedDict()
    while True:
        try:
            message = _loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the server went away
        key, blueprint, state, steps, budget_s, evaluate, view = message
        try:
            twin = twins.get(key)
            if twin is None:
                if blueprint is None:
                    conn.send_bytes(pickle.dumps(("need-blueprint",)))
                    continue
                twin = twins[key] = Trainer(**blueprint)
                while len(twins) > TWINS_PER_WORKER:
                    twins.popitem(last=False)
            twins.move_to_end(key)
            twin.import_state(_loads(state))
            twin.history = History()  # collect only this chunk's entries
            start = twin.step_count
            started = time.perf_counter()
            while True:
                count = twin.step_count
                kept = twin.step(steps)
                if kept < steps or twin.step_count < count or time.perf_counter() - started >= budget_s:
                    break  # the budget is spent, or the guard rewound
            if evaluate:
                twin.evaluate()
            shown = None if view is None else view_of(twin, *view)
            reply: tuple = ("ok", twin.export_state(), twin.history, min(start, twin.step_count), shown)
        except Exception as err:  # reported to the server's thread, which surfaces it on the page
            reply = ("error", f"{type(err).__name__}: {err}")
        conn.send_bytes(_dumps(reply))


def main(argv: list[str]) -> None:
    fd, nice = int(argv[0]), int(argv[1])
    torch.set_num_threads(1)
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    conn = Connection(fd)
    conn.send_bytes(b"ready")
    _serve(conn)


if __name__ == "__main__":  # run as the module itself, so its classes are the ones the server pickles
    from playground.serving import workers

    workers.main(sys.argv[1:])
