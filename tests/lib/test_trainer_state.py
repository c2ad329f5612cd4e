"""A run moved between trainers: ``blueprint`` + ``export_state``/``import_state`` continue it bit for bit."""

import copy

import pytest
import torch

from realnvp.flow import FlowConfig
from realnvp.training import OptimConfig, Trainer

CASES = {
    "adam, alternate mask": (FlowConfig(n_layers=3, hidden_dims=(16,)), OptimConfig(lr=3e-3)),
    "sgd, cosine": (
        FlowConfig(n_layers=2, hidden_dims=(16,)),
        OptimConfig(optimizer="sgd", lr=1e-2, schedule="cosine", total_steps=80),
    ),
    "adamw, actnorm": (
        FlowConfig(n_layers=2, hidden_dims=(16,), norm="actnorm"),
        OptimConfig(optimizer="adamw", lr=3e-3, weight_decay=1e-2),
    ),
    "batchnorm, small batches": (
        FlowConfig(n_layers=2, hidden_dims=(16,), norm="batchnorm"),
        OptimConfig(lr=3e-3, batch_size=64),
    ),
    "spline (autograd)": (
        FlowConfig(n_layers=2, hidden_dims=(16,), coupling="spline", spline_bins=4),
        OptimConfig(lr=3e-3),
    ),
}


def make(flow: FlowConfig, optim: OptimConfig, seed: int = 5) -> Trainer:
    return Trainer.for_dataset("spirals", n_points=700, heldout_points=200, seed=seed, flow=flow, optim=optim)


@pytest.mark.parametrize("case", list(CASES))
def test_a_twin_continues_the_run_exactly(case):
    flow, optim = CASES[case]
    original = make(flow, optim)
    original.step(37)  # mid-epoch, and mid-snapshot interval
    twin = Trainer(**copy.deepcopy(original.blueprint()))
    twin.import_state(copy.deepcopy(original.export_state()))
    assert twin.history.steps == [], "the history is not part of the state"
    original.step(45)  # past an epoch boundary (700 / 256) and a snapshot
    twin.step(45)
    assert torch.equal(original.flat.param, twin.flat.param)
    for (name, a), (_, b) in zip(original.model.named_buffers(), twin.model.named_buffers(), strict=True):
        assert torch.equal(a, b), name
    assert twin.step_count == original.step_count == 82
    assert twin.history.train_nll == original.history.train_nll[37:]
    assert twin.evaluate() == original.evaluate()


def test_a_differently_initialised_twin_matches_once_it_imports():
    flow, optim = CASES["adam, alternate mask"]
    a = make(flow, optim, seed=1)
    b = Trainer(**{**a.blueprint(), "seed": 2})  # same data, other weights and shuffles
    a.step(10)
    b.step(10)
    assert not torch.equal(a.flat.param, b.flat.param)
    b.import_state(a.export_state())
    a.step(10)
    b.step(10)
    assert torch.equal(a.flat.param, b.flat.param)


def test_import_keeps_knobs_of_the_state_and_applies_the_learning_rate():
    flow, optim = CASES["adam, alternate mask"]
    a = make(flow, optim)
    a.set_lr(7e-3)
    b = Trainer(**a.blueprint())
    b.import_state(a.export_state())
    assert b.optim.lr == 7e-3 and b.optimizer.lr == 7e-3


def test_the_guard_rewinds_the_same_way_in_a_twin():
    flow = FlowConfig(n_layers=6, hidden_dims=(32, 32), scale="exp")
    optim = OptimConfig(lr=2.0, grad_clip=0.0)
    a = Trainer.for_dataset("moons", noise=0.05, n_points=1000, seed=0, flow=flow, optim=optim, heldout_points=500)
    b = Trainer(**a.blueprint())
    a.step(1)  # it blows up at step 2
    b.import_state(a.export_state())
    a.step(299)
    b.step(299)
    assert a.history.events and a.history.events == b.history.events
    assert a.step_count == b.step_count and torch.equal(a.flat.param, b.flat.param)
