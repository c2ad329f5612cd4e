"""Rational-quadratic spline couplings (realnvp/spline.py).

tests/lib/test_flow.py runs ``coupling="spline"`` through its every-mask × every-norm autograd-Jacobian and round-trip
tests with the default bins and tail bound; this file checks what is particular to splines: a non-default number of
bins and tail bound, inputs straddling the tail bound, the identity at initialisation, monotonicity and continuity,
the exact inverse far away, the hand-written gradients (the spline's own and the planned step's) against autograd,
checkpoints, the trainer and the CLI.
"""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from realnvp import FlowConfig, RealNVP
from realnvp import spline as spline_module
from realnvp.checkpoint import flow_from_bytes, flow_to_bytes, load_flow
from realnvp.coupling import MASKS
from realnvp.norm import NORMS
from realnvp.spline import SplineCoupling, _spline_parts, _SplineForward, rational_quadratic_spline
from realnvp.training import OptimConfig, Trainer
from realnvp.training.fastgrad import nll_and_grad, supports

ROOT = Path(__file__).resolve().parents[2]


def perturbed(model: torch.nn.Module, seed: int = 0, strength: float = 0.3) -> torch.nn.Module:
    """Every parameter moved off its initial value (the zero-initialised last layers too), from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(strength * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def jacobian_log_det(fn, x):
    """log|det J| of a map R^d -> R^d at each row of x, from autograd."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0], row)
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


@pytest.mark.parametrize("mask,norm", list(itertools.product(MASKS, NORMS)))
@pytest.mark.parametrize("dim", [2, 3])
def test_log_det_matches_autograd_with_few_bins_and_points_across_the_tail_bound(dim, mask, norm):
    flow = RealNVP(dim, 4, (16, 16), coupling="spline", mask=mask, norm=norm, spline_bins=3, tail_bound=1.5, seed=1)
    flow = perturbed(flow.double(), seed=dim).eval()
    gen = torch.Generator().manual_seed(7)
    # a third of the coordinates beyond the tail bound, the rest inside
    x = torch.cat([torch.randn(6, dim, generator=gen, dtype=torch.float64), 2.5 * torch.ones(2, dim).double()])
    x[::3, 0] = 1.9
    z, log_det = flow(x)
    reference = jacobian_log_det(lambda v: flow(v)[0], x)
    assert torch.allclose(log_det, reference, atol=1e-8, rtol=0), (log_det - reference).abs().max()
    back, inv_log_det = flow.inverse(z)
    reference_inv = jacobian_log_det(lambda v: flow.inverse(v)[0], z)
    assert torch.allclose(inv_log_det, reference_inv, atol=1e-8, rtol=0)
    assert torch.allclose(back, x, atol=1e-10)
    assert not torch.allclose(z, x, atol=1e-3), "the perturbed flow should not be the identity"


def test_a_fresh_spline_flow_is_the_identity_with_uniform_bins_and_unit_derivatives():
    flow = RealNVP(2, 6, coupling="spline", seed=3)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * 2
    z, log_det = flow(x)
    assert torch.allclose(z, x, atol=1e-6) and log_det.abs().max() < 1e-5
    layer = flow.layers[0]
    w, h, d = layer.spline_parameters(x[:, :1])
    assert w.shape == (200, 1, 8) and h.shape == (200, 1, 8) and d.shape == (200, 1, 7)
    assert torch.equal(w, torch.zeros_like(w)) and torch.equal(d, torch.zeros_like(d))  # zero last layer
    # a zero raw derivative means derivative 1 (the softplus offset), so the spline is y = x
    xs = torch.linspace(-3, 3, 13, dtype=torch.float64)
    ys, ld = rational_quadratic_spline(xs, *(torch.zeros(13, k, dtype=torch.float64) for k in (8, 8, 7)))
    assert torch.allclose(ys, xs, atol=1e-12) and ld.abs().max() < 1e-12


def test_inputs_beyond_the_tail_bound_pass_unchanged_both_ways():
    layer = perturbed(SplineCoupling(1, 1, (16,), bins=5, tail_bound=2.0, generator=torch.Generator().manual_seed(0)))
    cond = torch.linspace(-3, 3, 7)[:, None]
    outside = torch.tensor([-9.0, -2.5, -2.0001, 2.0001, 3.0, 50.0, 1e4])[:, None]
    for direction in (layer.forward, layer.inverse):
        a, b, log_det = direction(cond, outside)
        assert torch.equal(b, outside) and torch.equal(a, cond) and torch.equal(log_det, torch.zeros(7))
    inside = torch.tensor([-1.9, -1.0, 0.0, 0.5, 1.0, 1.5, 1.99])[:, None]
    assert not torch.allclose(layer(cond, inside)[1], inside, atol=1e-4)  # the perturbed spline does move these
    # and gradients stay finite for inputs on both sides (no NaN leaks through the discarded branch)
    x = torch.cat([inside, outside])
    loss = layer(torch.cat([cond, cond]), x)[1].square().sum() - layer(torch.cat([cond, cond]), x)[2].sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize("bins,bound", [(2, 1.0), (5, 2.0), (8, 3.0)])
def test_the_hand_written_spline_gradient_matches_autograd_in_float64(bins, bound, monkeypatch):
    """The training direction's backward (_SplineForward) against autograd through the same forward maths, for
    every input: the point, the raw widths, heights and derivatives; a third of the points beyond the tail bound."""
    gen = torch.Generator().manual_seed(bins)
    n, d = 60, 2
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * 1.5 * bound
    x[::7, 0] = bound  # on the bound itself
    raw = 1.5 * torch.randn(n, d, 3 * bins - 1, generator=gen, dtype=torch.float64)
    x.requires_grad_(), raw.requires_grad_()
    grad_y, grad_log = (torch.randn(n, d, generator=gen, dtype=torch.float64) for _ in range(2))
    args = (bins, bound, 1e-3, 1e-3)
    y_ref, log_ref, _ = _spline_parts(x, raw, bins, bound, False, 1e-3, 1e-3)
    y, log_abs = _SplineForward.apply(x, raw, *args)
    assert torch.equal(y, y_ref) and torch.equal(log_abs, log_ref)  # the same forward code
    assert 0 < int((x.abs() > bound).sum()) < n * d
    reference = torch.autograd.grad((y_ref * grad_y).sum() + (log_ref * grad_log).sum(), (x, raw))
    mine = torch.autograd.grad((y * grad_y).sum() + (log_abs * grad_log).sum(), (x, raw))
    for got, want in zip(mine, reference, strict=True):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-11), (got - want).abs().max()
    assert mine[1].abs().max() > 1e-3  # the raw outputs do get a gradient
    # finite differences away from the bound (where log g' has a kink)
    assert torch.autograd.gradcheck(lambda v, r: _SplineForward.apply(v, r, *args), (x[1:7].detach().requires_grad_(),
                                    raw[1:7].detach().requires_grad_()))  # fmt: skip
    # a spline flow's training loss: the same gradient as autograd through the reference maths, in every layer
    flow = perturbed(RealNVP(2, 3, (8,), coupling="spline", spline_bins=bins, tail_bound=bound, seed=0).double())
    data = 1.2 * bound * torch.randn(40, 2, generator=gen, dtype=torch.float64)
    fast = torch.autograd.grad(flow.nll_loss(data), list(flow.parameters()))

    def reference(x, raw, bins, bound, min_bin_size, min_derivative):  # plain autograd through the same maths
        return _spline_parts(x, raw, bins, bound, False, min_bin_size, min_derivative)[:2]

    monkeypatch.setattr(spline_module._SplineForward, "apply", staticmethod(reference))
    slow = torch.autograd.grad(flow.nll_loss(data), list(flow.parameters()))
    for got, want in zip(fast, slow, strict=True):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_spline_is_monotone_continuous_and_maps_the_interval_onto_itself():
    gen = torch.Generator().manual_seed(5)
    n, k, bound = 4, 6, 2.5
    raw = [2 * torch.randn(n, 1, k, generator=gen, dtype=torch.float64) for _ in range(2)]
    raw.append(2 * torch.randn(n, 1, k - 1, generator=gen, dtype=torch.float64))
    xs = torch.linspace(-bound, bound, 20_001, dtype=torch.float64)
    for i in range(n):
        params = [r[i].expand(len(xs), k if j < 2 else k - 1) for j, r in enumerate(raw)]
        ys, log_abs = rational_quadratic_spline(xs, *params, tail_bound=bound)
        diffs = ys.diff()
        assert (diffs > 0).all()  # strictly increasing
        assert diffs.max() <= 1.01 * log_abs.exp().max() * (xs[1] - xs[0])  # no jump at a knot: steps ≤ max slope
        assert abs(ys[0] + bound) < 1e-12 and abs(ys[-1] - bound) < 1e-12
        # the log-derivative is the derivative of the map (central differences; the spline is C¹ at its knots)
        h = 1e-6
        inner = xs[1:-1]
        plus = rational_quadratic_spline(inner + h, *(p[1:-1] for p in params), tail_bound=bound)[0]
        minus = rational_quadratic_spline(inner - h, *(p[1:-1] for p in params), tail_bound=bound)[0]
        assert torch.allclose(log_abs[1:-1].exp(), (plus - minus) / (2 * h), rtol=1e-6, atol=1e-8)
        back, inv_log_abs = rational_quadratic_spline(ys, *params, tail_bound=bound, inverse=True)
        assert torch.allclose(back, xs, atol=1e-11) and torch.allclose(inv_log_abs, -log_abs, atol=1e-9)


def test_round_trip_float64_far_away_and_float32_on_data():
    flow = perturbed(RealNVP(2, 8, (32, 32), coupling="spline", tail_bound=3.0, seed=2), strength=0.1)
    gen = torch.Generator().manual_seed(1)
    far = 12 * torch.nn.functional.normalize(torch.randn(300, 2, generator=gen), dim=1)
    with torch.no_grad():
        flow64 = RealNVP.from_config(flow.config).double()
        flow64.load_state_dict(flow.state_dict())
        z, ld = flow64(far.double())
        back, ld_inv = flow64.inverse(z)
        assert torch.allclose(back, far.double(), atol=1e-9) and torch.allclose(ld, -ld_inv, atol=1e-8)
        data = torch.randn(2000, 2, generator=gen)
        z, ld = flow(data)
        back, ld_inv = flow.inverse(z)
        assert (back - data).abs().max() < 1e-4 and torch.allclose(ld, -ld_inv, atol=1e-4)


def test_checkpoints_keep_bins_and_tail_bound_and_old_configs_still_load(tmp_path):
    flow = perturbed(RealNVP(2, 3, (16,), coupling="spline", spline_bins=5, tail_bound=2.5, seed=4), strength=0.2)
    model, meta = flow_from_bytes(flow_to_bytes(flow))
    assert meta["flow"]["spline_bins"] == 5 and meta["flow"]["tail_bound"] == 2.5
    assert model.config == flow.config and model.layers[0].bins == 5 and model.layers[0].tail_bound == 2.5
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        assert torch.equal(model.log_prob(x), flow.log_prob(x))
    # a config written before splines existed (no spline_bins / tail_bound keys) still builds its flow
    old = FlowConfig(n_layers=2).to_dict()
    del old["spline_bins"], old["tail_bound"]
    assert FlowConfig.from_dict(old) == FlowConfig(n_layers=2)
    with pytest.raises(ValueError, match="spline_bins"):
        FlowConfig(coupling="spline", spline_bins=1)
    with pytest.raises(ValueError, match="tail_bound"):
        FlowConfig(coupling="spline", tail_bound=0)


def test_the_trainer_uses_the_hand_written_gradient_trains_like_autograd_and_learns():
    flow = FlowConfig(n_layers=4, hidden_dims=(16, 16), coupling="spline")

    def trainer():
        return Trainer.for_dataset(
            "checkerboard", noise=0.05, n_points=1000, seed=0, flow=flow, optim=OptimConfig(lr=3e-3), heldout_points=500
        )

    fast, slow = trainer(), trainer()
    assert supports(fast.model) and fast.use_manual_backward
    slow.use_manual_backward = False
    start = fast.evaluate()
    fast.step(30)
    slow.step(30)
    # the same batches, the same updates up to float32 rounding (which Adam amplifies over hundreds of steps)
    assert np.allclose(fast.history.train_nll, slow.history.train_nll, rtol=0, atol=1e-4)
    fast.step(120)
    assert fast.evaluate() < start - 0.05  # it learns (the start is the standardised Gaussian)


@pytest.mark.parametrize("mask", ["alternate", "parity"])
def test_the_planned_gradient_of_a_spline_flow_equals_plain_autograd_in_float64(mask, monkeypatch):
    """FastGrad on a spline flow (its conditioners by hand, the splines by _spline_backward) against autograd
    through the reference maths, 5-D so a layer transforms several coordinates, points beyond the tail bound."""
    flow = RealNVP(5, 4, (16, 8), coupling="spline", mask=mask, spline_bins=5, tail_bound=2.0, seed=1)
    flow = perturbed(flow.double())
    assert supports(flow)
    x = 1.5 * torch.randn(64, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for p in flow.parameters():
        p.grad = torch.full_like(p, 123.0)  # must be overwritten, not accumulated
    loss = nll_and_grad(flow, x)

    def reference(x, raw, bins, bound, min_bin_size, min_derivative):
        return _spline_parts(x, raw, bins, bound, False, min_bin_size, min_derivative)[:2]

    monkeypatch.setattr(spline_module._SplineForward, "apply", staticmethod(reference))
    want = flow.nll_loss(x)
    reference_grads = torch.autograd.grad(want, list(flow.parameters()))
    assert abs(loss.item() - want.item()) < 1e-12
    for p, g in zip(flow.parameters(), reference_grads, strict=True):
        assert g.abs().max() > 0 and torch.allclose(p.grad, g, rtol=1e-9, atol=1e-12)


def test_cli_train_2d_with_spline_couplings_saves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "realnvp", "train-2d", "--dataset", "spirals", "--n", "1000", "--layers", "2",
         "--hidden", "16", "--coupling", "spline", "--spline-bins", "6", "--tail-bound", "3.5", "--steps", "50",
         "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["steps"] == 50 and np.isfinite(line["test_nll"])
    model, _ = load_flow(out)
    assert model.config.coupling == "spline" and model.config.spline_bins == 6 and model.config.tail_bound == 3.5
    assert all(type(layer) is SplineCoupling for layer in model.layers)
    bad = subprocess.run(
        [sys.executable, "-m", "realnvp", "train-2d", "--coupling", "spline", "--spline-bins", "1", "--steps", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "spline_bins" in bad.stderr and "Traceback" not in bad.stderr
