"""Training in worker processes gives exactly what training in place gives, survives a dead worker, keeps a
learning rate changed mid-chunk, and leaves the trainer readable while a worker trains."""

import os
import signal
import threading
import time

import pytest
import torch

from playground.serving.background import BackgroundTraining, HandoverLock
from playground.serving.workers import TrainingPool, _apply
from realnvp.flow import FlowConfig
from realnvp.image.training import ImageTrainer
from realnvp.training import OptimConfig, Trainer


def small(seed: int = 0, **optim) -> Trainer:
    flow = FlowConfig(n_layers=3, hidden_dims=(16,))
    return Trainer.for_dataset(
        "moons", n_points=600, heldout_points=150, seed=seed, flow=flow, optim=OptimConfig(**optim)
    )


@pytest.fixture(scope="module")
def pool():
    with TrainingPool(processes=2, nice=0) as pool:
        assert pool.wait_ready(120), "the worker processes did not start"
        yield pool


def test_chunks_in_workers_equal_training_in_place(pool):
    here, there = small(), small()
    for evaluate in (True, False, True, False, True):
        pool.train(there, steps=7, budget_s=0.0, evaluate=evaluate)
    here.step(35)
    assert there.step_count == 35
    assert torch.equal(here.flat.param, there.flat.param)
    assert there.history.steps == here.history.steps and there.history.train_nll == here.history.train_nll
    assert len(there.history.heldout_nll) == 3 and there.history.eval_steps == [7, 21, 35]
    assert there.history.heldout_nll[-1] == here.evaluate(record=False)


def test_a_budget_trains_whole_chunks_for_about_that_long(pool):
    trainer = small(seed=1)
    kept = pool.train(trainer, steps=5, budget_s=0.3)
    assert kept > 5 and kept % 5 == 0 and trainer.step_count == kept


def test_many_sessions_share_the_workers(pool):
    trainers = [small(seed=s) for s in range(5)]
    threads = [threading.Thread(target=lambda t=t: [pool.train(t, 4, 0.0) for _ in range(3)]) for t in trainers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for seed, trainer in enumerate(trainers):
        reference = small(seed=seed)
        reference.step(12)
        assert torch.equal(reference.flat.param, trainer.flat.param), f"session {seed} mixed up"


def test_the_nan_guard_rewinds_the_same_way_in_a_worker(pool):
    def blowing_up():
        flow = FlowConfig(n_layers=6, hidden_dims=(32, 32), scale="exp")
        optim = OptimConfig(lr=2.0, grad_clip=0.0)
        return Trainer.for_dataset("moons", noise=0.05, n_points=1000, seed=0, flow=flow, optim=optim)

    here, there = blowing_up(), blowing_up()
    for _ in range(30):
        here.step(10)
        pool.train(there, 10, 0.0)
    assert here.history.events and there.history.events == here.history.events
    assert there.history.steps == here.history.steps == list(range(1, here.step_count + 1))
    assert torch.equal(here.flat.param, there.flat.param) and there.optim.lr == here.optim.lr


def test_a_learning_rate_changed_during_a_chunk_is_kept():
    trainer = small()
    sent = trainer.export_state()
    trainer.set_lr(5e-2)  # the page's slider, while the worker trains
    twin = Trainer(**trainer.blueprint())
    twin.import_state(sent)
    twin.step(3)
    _apply(trainer, sent, twin.export_state(), twin.history, 0)
    assert trainer.step_count == 3 and trainer.optim.lr == 5e-2 and trainer.optimizer.lr == 5e-2


def test_the_trainer_stays_readable_while_a_worker_trains(pool):
    trainer, lock = small(seed=2), HandoverLock()
    done = threading.Event()
    threading.Thread(target=lambda: (pool.train(trainer, 5, budget_s=1.0, lock=lock), done.set())).start()
    time.sleep(0.3)
    assert not done.is_set(), "the chunk should still be training"
    assert lock.acquire(timeout=0.2), "the page could not read the trainer during a remote chunk"
    lock.release()
    assert done.wait(60) and trainer.step_count > 5


def test_a_dead_worker_is_replaced_and_the_chunk_trains_in_place():
    with TrainingPool(processes=1, nice=0) as pool:
        assert pool.wait_ready(120)
        trainer = small(seed=3)
        pool.train(trainer, 5, 0.0)
        os.kill(pool.pids()[0], signal.SIGKILL)
        time.sleep(0.2)
        assert pool.train(trainer, 5, 0.0) == 5  # trained here
        assert pool.restarts == 1 and pool.fallbacks == 1
        assert pool.wait_ready(120)
        pool.train(trainer, 5, 0.0)
        reference = small(seed=3)
        reference.step(15)
        assert torch.equal(reference.flat.param, trainer.flat.param)


def test_a_failure_in_the_worker_is_reported(pool, monkeypatch):
    trainer = small(seed=4)
    monkeypatch.setattr(trainer, "export_state", lambda: {"param": torch.zeros(3)})  # a broken state
    with pytest.raises(RuntimeError, match="training failed in a worker process"):
        pool.train(trainer, 5, 0.0)


def test_background_training_uses_the_pool_and_only_for_2d_cpu_trainers(pool):
    trainer = small(seed=5)
    worker = BackgroundTraining(trainer, pool=pool, chunk_steps=5).start()
    deadline = time.monotonic() + 30
    while trainer.step_count < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    assert worker.error is None and trainer.step_count >= 50 and trainer.history.heldout_nll
    assert getattr(trainer, "_pool_key", None), "the chunks did not go through the pool"
    image = ImageTrainer("digits", seed=0)
    assert TrainingPool.accepts(trainer) and not TrainingPool.accepts(image)


def test_the_worker_computes_the_same_view_as_the_page_would(pool):
    from playground.serving.workers import view_of

    here, there = small(seed=6), small(seed=6)
    kept, shown = pool.train_and_view(there, 9, 0.0, view=(12, 50, 7))
    here.step(9)
    step, bounds, xs, ys, log_p, samples = view_of(here, 12, 50, 7)
    assert kept == 9 and shown[0] == step == 9 and shown[1] == bounds
    for a, b in zip(shown[2:], (xs, ys, log_p, samples), strict=True):
        assert a.shape == b.shape and (a == b).all()
    assert pool.train_and_view(there, 3, 0.0)[1] is None, "no view asked, none computed"


def test_the_playground_state_adopts_views_from_the_workers(pool):
    from playground.settings import Settings
    from playground.state import PlaygroundState

    state = PlaygroundState(Settings(n_layers=2, width=16, n_points=600))
    state.reset()
    state.start_training(None, "pool-test", pool=pool)
    deadline = time.monotonic() + 30
    while (state.display is None or state.display.step < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    state.stop_training()
    assert state.display is not None and state.display.step >= 20
    assert getattr(state.trainer, "_pool_key", None), "the chunks did not go through the pool"
