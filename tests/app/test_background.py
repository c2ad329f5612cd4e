"""Background training: advances while watched, stops on request or when abandoned, shares slots, keeps errors."""

import time

from playground.serving.background import BackgroundTraining
from playground.serving.scheduler import TrainingSlots
from realnvp.flow import FlowConfig
from realnvp.training import Trainer


def small():
    return Trainer.for_dataset(
        "moons", n_points=500, flow=FlowConfig(n_layers=2, hidden_dims=(16,)), heldout_points=100
    )


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_trains_until_stopped_and_evaluates():
    trainer = small()
    worker = BackgroundTraining(trainer).start()
    assert wait_for(lambda: trainer.step_count >= 50)
    worker.stop()
    assert not worker.running
    stopped_at = trainer.step_count
    time.sleep(0.2)
    assert trainer.step_count == stopped_at
    assert trainer.history.eval_steps and trainer.history.eval_steps[-1] == stopped_at


def test_stops_by_itself_when_nobody_watches():
    trainer = small()
    worker = BackgroundTraining(trainer, abandon_after_s=0.3).start()
    assert wait_for(lambda: not worker.running, timeout=5)


def test_two_workers_share_one_slot_in_turns():
    slots = TrainingSlots(capacity=1, quantum=0.2, lease=5)
    a, b = small(), small()
    wa = BackgroundTraining(a, slots, "a").start()
    wb = BackgroundTraining(b, slots, "b").start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (a.step_count > 30 and b.step_count > 30):
            wa.beat()
            wb.beat()
            time.sleep(0.05)
        assert a.step_count > 30 and b.step_count > 30, (a.step_count, b.step_count)
    finally:
        wa.stop()
        wb.stop()
    assert slots.status()["training"] == 0


def test_errors_stop_the_worker_and_are_kept():
    trainer = small()

    def explode(n):
        raise RuntimeError("boom")

    trainer.step = explode
    worker = BackgroundTraining(trainer).start()
    assert wait_for(lambda: not worker.running)
    assert isinstance(worker.error, RuntimeError) and "boom" in str(worker.error)


def test_slow_motion_paces_chunks():
    trainer = small()
    worker = BackgroundTraining(trainer, chunk_steps=2, pace_s=0.25).start()
    time.sleep(1.0)
    worker.stop()
    assert 2 <= trainer.step_count <= 12


def test_display_hook_runs_on_the_worker_with_the_lock_held():
    trainer = small()
    seen = []
    worker = BackgroundTraining(trainer, display_every_s=0.05)
    worker.on_display = lambda t: seen.append((t.step_count, worker.lock.owned()))
    worker.start()
    assert wait_for(lambda: len(seen) >= 5)
    worker.stop()
    steps = [s for s, _ in seen]
    assert all(owned for _, owned in seen)
    assert steps == sorted(steps) and steps[-1] > steps[0]
    assert seen[-1][0] == trainer.step_count  # the final display shows where training stopped


def test_a_reader_gets_the_lock_promptly_while_the_worker_trains():
    """The worker re-takes the lock right after every chunk; a UI waiting for it must still get in quickly."""
    trainer = Trainer.for_dataset("moons", n_points=2000, heldout_points=500)  # ~5 ms steps: real chunks
    worker = BackgroundTraining(trainer, chunk_steps=5).start()
    try:
        assert wait_for(lambda: trainer.step_count > 0)
        chunks_waited = []
        for _ in range(20):
            before = trainer.step_count
            with worker.lock:
                chunks_waited.append((trainer.step_count - before) // 5)
            time.sleep(0.01)
            worker.beat()
        assert worker.running
    finally:
        worker.stop()
    # the worker hands the lock over after the chunk in progress: a reader never waits behind a run of chunks
    assert max(chunks_waited) <= 1, chunks_waited


def test_a_slow_page_gets_its_view_prepared_less_often():
    def views_in(seconds, refresh_s):
        drawn = []
        worker = BackgroundTraining(small(), display_every_s=0.05, on_display=lambda t: drawn.append(t.step_count))
        if refresh_s is not None:
            worker.pace_to_page(refresh_s)
        worker.start()
        time.sleep(seconds)
        worker.stop()
        return len(drawn)

    fast, slow = views_in(1.2, None), views_in(1.2, 1.0)
    assert fast >= 8  # every 0.05 s asked (slack for a busy machine)
    assert 1 <= slow <= 3  # every 0.75 s, plus the one drawn on stopping
