"""Invertibility and exact log-determinants of every coupling × scale × mask × normalisation combination.

The references are independent of the code under test: round trips through ``inverse`` and the log|det| of the
autograd Jacobian computed in float64. Zero-initialised output layers are perturbed first so no flow is the identity.
"""

import itertools
import math

import pytest
import torch

from realnvp import FlowConfig, RealNVP
from realnvp.coupling import COUPLINGS, MASKS, SCALES
from realnvp.norm import NORMS, BatchNormFlow

COMBOS = [
    (coupling, scale, mask, norm)
    for coupling, scale, mask, norm in itertools.product(COUPLINGS, SCALES, MASKS, NORMS)
    if coupling == "affine" or scale == "tanh"  # additive and spline couplings have no scale
]


def perturbed_flow(dim, coupling, scale, mask, norm, n_layers=4, seed=0, strength=0.4):
    """A flow whose every parameter and running statistic is moved away from its (identity) initial value."""
    torch.manual_seed(seed)
    flow = RealNVP(dim, n_layers, (16, 16), coupling=coupling, scale=scale, mask=mask, norm=norm, seed=seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(strength * torch.randn_like(p))
        for name, buf in flow.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.3 * torch.randn_like(buf))
            elif name.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) + 0.5)
            elif name.endswith("initialised"):
                buf.fill_(True)
    return flow.eval()


def jacobian_log_det(fn, x):
    """log|det J| of a map R^d -> R^d at each row of x, from autograd."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0], row)
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


@pytest.mark.parametrize("coupling,scale,mask,norm", COMBOS)
@pytest.mark.parametrize("dim", [2, 5])
def test_log_det_matches_autograd_jacobian(dim, coupling, scale, mask, norm):
    # raw exp overflows float64 with large random weights; large random spline outputs squash bins to their minimum
    # size (slopes ~1e-3 per layer), where the inverse loses digits
    strength = 0.15 if scale == "exp" or coupling == "spline" else 0.4
    flow = perturbed_flow(dim, coupling, scale, mask, norm, strength=strength).double()
    x = torch.randn(6, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z, log_det = flow(x)
    reference = jacobian_log_det(lambda v: flow(v)[0], x)
    assert torch.allclose(log_det, reference, atol=1e-6, rtol=0), (log_det - reference).abs().max()
    # and the inverse's log-det is the log|det| of the inverse map's Jacobian
    x_back, inv_log_det = flow.inverse(z)
    reference_inv = jacobian_log_det(lambda v: flow.inverse(v)[0], z)
    assert torch.allclose(inv_log_det, reference_inv, atol=1e-6, rtol=0)
    assert torch.allclose(x_back, x, atol=1e-9)
    assert not torch.allclose(z, x, atol=1e-3), "the perturbed flow should not be the identity"


@pytest.mark.parametrize("coupling,scale,mask,norm", COMBOS)
def test_round_trip_float32_on_data_and_far_away(coupling, scale, mask, norm):
    flow = perturbed_flow(2, coupling, scale, mask, norm, n_layers=8, strength=0.08)
    gen = torch.Generator().manual_seed(2)
    data = torch.randn(2000, 2, generator=gen)
    far = 10 * torch.nn.functional.normalize(torch.randn(200, 2, generator=gen), dim=1)  # 10 sigma out
    # unbounded exp scales grow exponentially with |x| (the reason to bound them): test it on the data only. So do a
    # spline's: a far-away conditioner input extrapolates the conditioner to bins at their minimum size, whose slopes
    # (~1e-3) amplify float32 rounding in the inverse a thousandfold (tests/lib/test_spline.py checks far points)
    for x in (data,) if scale == "exp" or coupling == "spline" else (data, far):
        with torch.no_grad():
            z, ld = flow(x)
            x_back, ld_inv = flow.inverse(z)
        assert torch.isfinite(z).all()
        err = (x_back - x).abs().max().item()
        # float32 rounding grows with the magnitudes along the way: 1e-5 relative to the largest of |x|, |z|
        assert err <= 1e-5 * max(1.0, x.abs().max().item(), z.abs().max().item()), err
        assert torch.allclose(ld, -ld_inv, atol=1e-4)


def test_log_prob_is_base_density_plus_log_det():
    flow = perturbed_flow(3, "affine", "tanh", "parity", "actnorm").double()
    x = torch.randn(7, 3, dtype=torch.float64)
    z, log_det = flow(x)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert torch.allclose(flow.log_prob(x), base + log_det)
    assert torch.allclose(flow.nll_loss(x), -flow.log_prob(x).mean())


def test_density_integrates_to_one_on_a_grid():
    flow = perturbed_flow(2, "affine", "tanh", "alternate", "none", strength=0.2).double()
    g = torch.linspace(-9, 9, 401, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        mass = flow.log_prob(pts).exp().sum().item() * (g[1] - g[0]).item() ** 2
    assert abs(mass - 1) < 1e-2, mass


def test_batchnorm_training_mode_log_det_uses_the_batch_statistics():
    torch.manual_seed(0)
    layer = BatchNormFlow(1, 1).double()
    with torch.no_grad():
        layer.log_gamma.add_(0.3 * torch.randn(2))
        layer.beta.add_(0.3 * torch.randn(2))
    a, b = torch.randn(64, 1, dtype=torch.float64) * 3, torch.randn(64, 1, dtype=torch.float64) + 2
    layer.train()
    a2, b2, log_det = layer(a, b)
    x = torch.cat([a, b], 1)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    # the per-sample map with the batch statistics held fixed: its Jacobian is diagonal
    expected = (layer.log_gamma - 0.5 * torch.log(var + layer.eps)).sum()
    assert torch.allclose(log_det, expected.expand(64))
    y = torch.cat([a2, b2], 1)
    assert torch.allclose(y.mean(0), layer.beta, atol=1e-10)
    # running statistics moved toward the batch's
    assert (layer.running_mean - mean).abs().max() < mean.abs().max()


def test_shapes_of_sample_log_prob_and_trace():
    flow = perturbed_flow(2, "affine", "softplus", "alternate", "actnorm", strength=0.2)
    assert flow.sample(17).shape == (17, 2)
    assert flow.log_prob(torch.randn(9, 2)).shape == (9,)
    x = torch.randn(11, 2)
    tr = flow.trace(x)
    assert len(tr.states) == len(flow.layers) + 1 and len(tr.log_dets) == len(flow.layers)
    assert all(s.shape == (11, 2) for s in tr.states) and all(ld.shape == (11,) for ld in tr.log_dets)
    z, log_det = flow(x)
    assert torch.equal(tr.states[-1], z)
    assert torch.allclose(sum(tr.log_dets), log_det, atol=1e-5)
    inv = flow.trace(z, direction="inverse")
    assert torch.allclose(inv.states[-1], x, atol=1e-5)
    assert torch.allclose(sum(inv.log_dets), -log_det, atol=1e-5)
    # each coupling changes exactly the coordinates it says it transforms
    for k, kind in enumerate(tr.kinds):
        if kind == "AffineCoupling":
            changed = (tr.states[k + 1] != tr.states[k]).any(0).nonzero().flatten().tolist()
            assert changed == tr.transformed[k]


def test_sample_is_reproducible_with_a_generator():
    flow = perturbed_flow(2, "affine", "tanh", "alternate", "none")
    a = flow.sample(5, generator=torch.Generator().manual_seed(3))
    b = flow.sample(5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_same_config_builds_the_same_weights_and_bad_configs_are_refused():
    a, b = RealNVP(2, 4, seed=5), RealNVP(2, 4, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    for bad in [dict(scale="cube"), dict(coupling="cubic"), dict(mask="diagonal"), dict(n_layers=0), dict(dim=1)]:
        with pytest.raises(ValueError, match="accepted|one of|must be|dim"):
            FlowConfig(**{**dict(dim=2), **bad})


def test_identity_at_initialisation():
    flow = RealNVP(2, 6)
    x = torch.randn(10, 2)
    z, log_det = flow(x)
    assert torch.allclose(z, x) and torch.all(log_det == 0)
    assert math.isclose(flow.nll_loss(x).item(), -flow.log_prob(x).mean().item(), rel_tol=1e-6)


@pytest.mark.parametrize("mask,norm", [("alternate", "none"), ("parity", "batchnorm"), ("random", "actnorm")])
def test_forward_inverse_nll_and_partial_traces_share_one_loop(mask, norm):
    flow = perturbed_flow(3, "affine", "tanh", mask, norm).double()
    x = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    full = flow.trace(x)
    z, log_det = flow(x)
    assert torch.equal(full.states[-1], z)
    assert torch.equal(sum(full.log_dets), log_det)  # the same additions in the same order
    nll = 0.5 * z.square().sum() / 9 + 1.5 * math.log(2 * math.pi) - log_det.mean()
    assert torch.allclose(flow.nll_loss(x), nll, rtol=1e-14)
    # layer by layer, each piece starting from the previous piece's output, is the whole trace bit for bit
    state = x
    for k in range(len(flow.layers)):
        piece = flow.trace(state, start=k, stop=k + 1)
        assert len(piece.states) == 2 and piece.kinds == [full.kinds[k]]
        assert torch.equal(piece.states[-1], full.states[k + 1]) and torch.equal(piece.log_dets[0], full.log_dets[k])
        state = piece.states[-1]
    # and backwards: the inverse pieces, last layer first, give inverse()'s result
    back, inv_log_det = flow.inverse(z)
    inv = flow.trace(z, direction="inverse")
    assert torch.equal(inv.states[-1], back) and torch.equal(sum(inv.log_dets), inv_log_det)
    state = z
    for k in reversed(range(len(flow.layers))):
        state = flow.trace(state, direction="inverse", start=k, stop=k + 1).states[-1]
    assert torch.equal(state, back)
    assert torch.allclose(back, x, atol=1e-10)
    with pytest.raises(ValueError, match="direction"):
        flow.trace(x, direction="sideways")
