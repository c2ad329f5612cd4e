"""The training engine: reproducibility, mid-run changes, the NaN guard, units, the hand-written backward."""

import itertools
import math

import numpy as np
import pytest
import torch

from realnvp import FlowConfig, RealNVP
from realnvp.coupling import COUPLINGS, MASKS, SCALES, AffineCoupling
from realnvp.datasets import make_points
from realnvp.norm import NORMS, ActNorm
from realnvp.training import OptimConfig, Trainer
from realnvp.training.fastgrad import CHECKED, FastGrad, FlatAdam, flatten_parameters, nll_and_grad, supports

SMALL = FlowConfig(n_layers=4, hidden_dims=(32, 32))


def small_trainer(**optim):
    return Trainer.for_dataset(
        "moons", noise=0.1, n_points=1000, seed=3, flow=SMALL, optim=OptimConfig(**optim), heldout_points=500
    )


def test_same_seed_and_config_give_identical_losses():
    a, b = small_trainer(lr=3e-3), small_trainer(lr=3e-3)
    a.step(120)
    b.step(60)
    b.step(60)  # chunking must not matter
    assert a.history.train_nll == b.history.train_nll
    assert a.evaluate() == b.evaluate()
    c = Trainer.for_dataset("moons", noise=0.1, n_points=1000, seed=4, flow=SMALL, heldout_points=500)
    c.step(120)
    assert c.history.train_nll != a.history.train_nll


def test_training_lowers_heldout_nll_and_reports_original_units():
    trainer = small_trainer(lr=5e-3)
    before = trainer.evaluate()
    trainer.step(400)
    after = trainer.evaluate()
    assert after < before - 0.3
    # original units: scaling the data by 10 shifts every NLL by exactly 2·log(10)
    points = make_points("moons", n=1000, noise=0.1, seed=3)
    held = make_points("moons", n=500, noise=0.1, seed=9)
    t1 = Trainer(points, held, SMALL, seed=1)
    t10 = Trainer(points * 10, held * 10, SMALL, seed=1)
    t1.step(50)
    t10.step(50)
    assert math.isclose(t10.evaluate() - t1.evaluate(), 2 * math.log(10), abs_tol=1e-4)
    # and the model density in data units matches: log p10(10x) = log p1(x) - 2 log 10
    lp1, lp10 = t1.log_prob(held[:5]), t10.log_prob(held[:5] * 10)
    assert np.allclose(lp10, lp1 - 2 * math.log(10), atol=1e-4)


def test_lr_and_batch_size_change_mid_run_without_reset():
    trainer = small_trainer(lr=1e-3, batch_size=64)
    trainer.step(30)
    before = list(trainer.history.train_nll)
    weights = trainer.flat.param.detach().clone()
    trainer.set_lr(2e-2)
    trainer.set_batch_size(128)
    assert trainer.optimizer.lr == 2e-2 and trainer.step_count == 30
    assert torch.equal(trainer.flat.param, weights), "changing knobs must not touch the weights"
    trainer.step(1)
    assert trainer.history.train_nll[:30] == before and trainer.step_count == 31
    step_size = (trainer.flat.param - weights).abs().max().item()
    assert step_size > 1e-2 * 0.5, "the new learning rate was not applied"  # Adam's first steps move ≈ lr


def test_nan_guard_recovers_and_records_the_event():
    trainer = Trainer.for_dataset(
        "moons",
        noise=0.05,
        n_points=1000,
        seed=0,
        flow=FlowConfig(n_layers=6, hidden_dims=(32, 32), scale="exp"),
        optim=OptimConfig(lr=2.0, grad_clip=0.0),
        heldout_points=500,
    )
    trainer.step(300)
    assert trainer.history.events, "a raw-exp flow at lr=2 should have blown up"
    assert "Restored the weights" in trainer.history.events[0] and "learning rate" in trainer.history.events[0]
    assert trainer.optim.lr < 2.0
    assert torch.isfinite(trainer.flat.param).all()
    assert all(math.isfinite(v) for v in trainer.history.train_nll)
    assert math.isfinite(trainer.evaluate())
    assert trainer.history.steps == list(range(1, trainer.step_count + 1))


def test_gap_to_entropy_and_schedule():
    trainer = small_trainer(lr=1e-2, schedule="cosine", total_steps=100)
    assert trainer.entropy is not None and trainer.gap is None
    trainer.evaluate()
    assert trainer.gap == trainer.history.heldout_nll[-1] - trainer.entropy
    trainer.step(100)
    assert math.isclose(trainer.current_lr(), 1e-2 * trainer.optim.min_lr_ratio, rel_tol=1e-6)


def test_trained_flow_round_trip_in_float32_on_data_and_ten_sigma_out():
    trainer = small_trainer(lr=5e-3)
    trainer.step(300)
    model = trainer.model.eval()
    x = trainer.x_train
    far = 10 * torch.nn.functional.normalize(torch.randn(500, 2, generator=torch.Generator().manual_seed(0)), dim=1)
    with torch.no_grad():
        for points in (x, far):
            back = model.inverse(model(points)[0])[0]
            # ≤ 1e-5 absolute on the data; 10 sigma out, |x| ≈ 10 and float32 spacing there is ~1e-6: ≤ 1e-5 relative
            assert (back - points).abs().max().item() <= 1e-5 * max(1.0, points.abs().max().item())


def perturbed(model: RealNVP, seed: int = 0, strength: float = 0.2) -> RealNVP:
    """Move every parameter off its initial value (the zero-initialised output layers included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(strength * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


EVERY_COMBINATION = list(itertools.product(COUPLINGS, SCALES, MASKS, NORMS))


def test_the_checked_set_is_exactly_what_supports_claims():
    claimed = {c for c in EVERY_COMBINATION if supports(RealNVP(5, 3, (8,), *c[:2], mask=c[2], norm=c[3]))}
    assert claimed == set(CHECKED)
    assert CHECKED <= set(EVERY_COMBINATION)  # nothing in it that cannot be built


@pytest.mark.parametrize("coupling,scale,mask,norm", sorted(CHECKED))
@pytest.mark.parametrize("hidden", [(16, 8), (12,)])
def test_hand_written_gradients_equal_autograd_for_every_checked_combination(coupling, scale, mask, norm, hidden):
    model = RealNVP(5, 4, hidden, coupling=coupling, scale=scale, scale_bound=1.5, mask=mask, norm=norm, seed=2)
    model = perturbed(model.double())
    assert supports(model)
    x = torch.randn(32, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss = model.nll_loss(x)  # the shared forward pass
    reference = torch.autograd.grad(loss, list(model.parameters()))
    assert all(g.abs().max() > 0 for g in reference), "every parameter should get a gradient"
    for p in model.parameters():
        p.grad = torch.full_like(p, 123.0)  # must be overwritten, not accumulated
    manual_loss = nll_and_grad(model, x)
    assert math.isclose(manual_loss.item(), loss.item(), rel_tol=1e-12)
    assert math.isclose(manual_loss.item(), -model.log_prob(x).mean().item(), rel_tol=1e-12)
    for p, g in zip(model.parameters(), reference, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-12, rtol=1e-9)


def test_a_plan_serves_several_batch_sizes_and_writes_the_loss_where_asked():
    model = perturbed(RealNVP(3, 3, (8, 8), mask="parity").double())
    flatten_parameters(model)
    fast = FastGrad(model)
    gen = torch.Generator().manual_seed(0)
    for n in (16, 7, 16, 7, 1):
        x = torch.randn(n, 3, dtype=torch.float64, generator=gen)
        out = torch.zeros((), dtype=torch.float64)
        assert fast(x, out=out) is out
        loss = model.nll_loss(x)
        reference = torch.autograd.grad(loss, list(model.parameters()))
        assert math.isclose(out.item(), loss.item(), rel_tol=1e-12)
        for p, g in zip(model.parameters(), reference, strict=True):
            assert torch.allclose(p.grad, g, atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("coupling,scale,mask,norm", sorted(set(EVERY_COMBINATION) - CHECKED))
def test_every_declined_combination_trains_with_autograd(coupling, scale, mask, norm, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the hand-written gradient ran for a declined configuration")

    monkeypatch.setattr(FastGrad, "__call__", refuse)
    flow = FlowConfig(n_layers=2, hidden_dims=(8,), coupling=coupling, scale=scale, mask=mask, norm=norm)
    trainer = Trainer.for_dataset("moons", n_points=200, flow=flow, optim=OptimConfig(batch_size=64), heldout_points=50)
    assert not supports(trainer.model) and not trainer.use_manual_backward
    before = trainer.flat.param.detach().clone()
    trainer.step(3)
    assert trainer.step_count == 3 and all(math.isfinite(v) for v in trainer.history.train_nll)
    assert not torch.equal(trainer.flat.param, before)


def test_supports_declines_what_it_was_not_checked_for():
    assert supports(RealNVP(2, 2))
    # a scale that is not in the checked set (as a newly added one would be), on the config or on a layer
    model = RealNVP(2, 2)
    model.layers[1].scale = "cube"
    assert not supports(model)
    model = RealNVP(2, 2)
    object.__setattr__(model.config, "scale", "cube")
    assert not supports(model)

    class Subclass(AffineCoupling):
        pass

    class FlowSubclass(RealNVP):
        pass

    model = RealNVP(2, 2)
    layer = model.layers[0]
    model.layers[0] = Subclass(1, 1, (64, 64), transform_b=layer.transform_b)
    assert not supports(model)
    model = RealNVP(2, 2)
    model.layers[0].net[1] = torch.nn.Tanh()  # another activation in a conditioner
    assert not supports(model)
    model = RealNVP(2, 2)
    model.layers.append(ActNorm(1, 1))  # a layer the config does not build
    assert not supports(model)
    assert not supports(FlowSubclass(2, 2))
    assert not supports(torch.nn.Linear(2, 2))


def test_fast_path_with_clipping_trains_like_autograd():
    fast, slow = small_trainer(lr=3e-3, grad_clip=0.05), small_trainer(lr=3e-3, grad_clip=0.05)
    slow.use_manual_backward = False
    assert fast.use_manual_backward
    fast.step(40)
    slow.step(40)
    np.testing.assert_allclose(fast.history.train_nll, slow.history.train_nll, rtol=2e-5)
    assert torch.allclose(fast.flat.param, slow.flat.param, atol=1e-5)


def test_flat_adam_clipping_equals_clip_then_step():
    gen = torch.Generator().manual_seed(0)
    for max_norm in (0.1, 100.0):  # clipped, and not
        params = [torch.nn.Parameter(torch.randn(50, generator=gen)) for _ in range(2)]
        params[1].data.copy_(params[0].data)
        opts = [FlatAdam(p, lr=1e-2) for p in params]
        for _ in range(5):
            g = torch.randn(50, generator=gen)
            for p in params:
                p.grad = g.clone()
            norm = torch.linalg.vector_norm(params[0].grad)
            params[0].grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
            opts[0].step()
            opts[1].step(max_grad_norm=max_norm)
        assert torch.allclose(params[0], params[1], atol=1e-6, rtol=1e-6)


def test_flat_parameters_and_flat_adam_match_torch_adam():
    torch.manual_seed(0)
    a, b = RealNVP(2, 2, (8,)), RealNVP(2, 2, (8,))
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.1 * torch.randn_like(p))
    b.load_state_dict(a.state_dict())
    flat = flatten_parameters(b)
    reference = torch.optim.Adam(a.parameters(), lr=1e-2)
    mine = FlatAdam(flat.param, lr=1e-2)
    for _ in range(10):
        x = torch.randn(64, 2)
        reference.zero_grad()
        a.nll_loss(x).backward()
        reference.step()
        nll_and_grad(b, x)
        mine.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    norm_before = flat.grad.norm().item()
    flat.clip_grad_norm_(norm_before / 2)
    assert math.isclose(flat.grad.norm().item(), norm_before / 2, rel_tol=1e-4)


def test_bad_optimiser_settings_are_refused():
    for bad in [dict(lr=-1.0), dict(lr=float("nan")), dict(batch_size=0), dict(optimizer="lbfgs")]:
        with pytest.raises(ValueError):
            OptimConfig(**bad)


def test_sample_and_grid_are_in_data_units():
    trainer = small_trainer(lr=5e-3)
    trainer.step(200)
    samples = trainer.sample(2000, seed=0)
    assert samples.shape == (2000, 2)
    assert np.allclose(samples, trainer.sample(2000, seed=0))
    assert np.all(np.abs(samples.mean(0) - trainer.train_points.mean(0)) < 0.3)
    xs, ys, log_p = trainer.log_prob_grid(resolution=40)
    assert log_p.shape == (40, 40)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert 0.8 < np.exp(log_p).sum() * cell < 1.05  # most of the mass sits in the view window


def test_moving_a_trainer_keeps_the_run():
    trainer = small_trainer(lr=3e-3)
    trainer.step(30)
    reference = small_trainer(lr=3e-3)
    reference.step(60)
    # pretend it lived elsewhere so `to("cpu")` does the full move (weights, optimiser state, data)
    trainer.device = torch.device("meta")
    trainer.to("cpu")
    assert trainer.device == torch.device("cpu") and trainer.step_count == 30
    trainer.step(30)
    assert trainer.step_count == 60 and math.isfinite(trainer.evaluate())
    assert trainer.history.train_nll[:30] == reference.history.train_nll[:30]
