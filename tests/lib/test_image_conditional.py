"""Class-conditional image flows: conditional couplings invert with autograd log-dets, every class density
normalises, the mixture and Bayes' rule are the sums they claim, and ``sample-image`` writes what it documents."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from realnvp.cli import main as cli_main
from realnvp.image import (
    ChannelCoupling,
    CheckerboardCoupling,
    ImageFlowConfig,
    ImageRealNVP,
    class_bits_per_dim,
    dataset_bits_per_dim,
    marginal_bits_per_dim,
    round_trip,
)
from realnvp.image.catalog import FLOWS_DIR, load_flow, save_flow
from tests.lib.test_image import logdet_autograd, perturb

CONDITIONAL = ["digits-conditional", "mnist5k-conditional"]


def one_hot(labels, k):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).double()


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: CheckerboardCoupling(1, 4, 4, parity=0, hidden=4, n_classes=3), (1, 4, 4)),
        (lambda: CheckerboardCoupling(2, 2, 2, parity=1, hidden=4, n_classes=3), (2, 2, 2)),
        (lambda: ChannelCoupling(4, parity=0, hidden=4, n_classes=3), (4, 2, 2)),
        (lambda: ChannelCoupling(4, parity=1, hidden=4, n_classes=3), (4, 2, 2)),
    ],
)
@pytest.mark.parametrize("label", [0, 2])
def test_conditional_coupling_inverse_and_logdet_match_autograd(make, shape, label):
    layer = perturb(make().double(), seed=label)
    context = one_hot([label], 3)
    x = torch.randn((1, *shape), generator=torch.Generator().manual_seed(label), dtype=torch.float64)
    y, log_det = layer(x, context)
    x_back, inv_log_det = layer.inverse(y, context)
    torch.testing.assert_close(x_back, x)
    assert float(log_det.detach()) == pytest.approx(logdet_autograd(lambda v: layer(v, context)[0], x[0]), abs=1e-8)
    assert float(inv_log_det.detach()) == pytest.approx(
        logdet_autograd(lambda v: layer.inverse(v, context)[0], y[0]), abs=1e-8
    )
    # the label really conditions the layer: another class gives another map
    other = layer(x, one_hot([(label + 1) % 3], 3))[0]
    assert not torch.allclose(other, y)


def tiny_conditional(n_classes: int = 3, seed: int = 0) -> ImageRealNVP:
    config = ImageFlowConfig(
        channels=1, height=2, width=2, n_levels=4, n_scales=1, n_final=3, hidden=4, alpha=0.0, n_classes=n_classes
    )
    return perturb(ImageRealNVP(config, seed=seed).double(), seed=seed, scale=0.4).eval()


@torch.no_grad()
def test_every_class_density_and_the_mixture_integrate_to_one():
    """With alpha = 0 the logit maps [0, 1)^4 onto R^4, so each p(x | y) must integrate to 1 over the cube."""
    flow = tiny_conditional()
    sobol = torch.quasirandom.SobolEngine(4, scramble=True, seed=0)
    x = sobol.draw(2**17, dtype=torch.float64).clamp(1e-12, 1 - 1e-12).view(-1, 1, 2, 2)
    integrals = [float(flow.log_prob(x, y).exp().mean()) for y in range(3)]
    for y, integral in enumerate(integrals):
        assert integral == pytest.approx(1.0, abs=0.03), (y, integrals)
    # the classes really differ, so this is not one density counted three times
    densities = flow.class_log_probs(x[:500])
    assert float((densities[:, 0] - densities[:, 1]).abs().max()) > 0.05
    assert float(flow.log_prob_marginal(x).exp().mean()) == pytest.approx(1.0, abs=0.03)


@torch.no_grad()
def test_mixture_and_bayes_rule_are_the_sums_over_classes():
    flow = tiny_conditional()
    x = torch.rand(7, 1, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    per_class = torch.stack([flow.log_prob(x, torch.full((7,), y)) for y in range(3)], dim=1)
    torch.testing.assert_close(flow.class_log_probs(x), per_class)
    expected = torch.log(per_class.exp().mean(dim=1))
    torch.testing.assert_close(flow.log_prob_marginal(x), expected)
    prior = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    torch.testing.assert_close(flow.log_prob_marginal(x, prior), torch.log((per_class.exp() * prior).sum(1)))
    posterior = flow.classify(x).exp()
    torch.testing.assert_close(posterior.sum(1), torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(posterior, per_class.exp() / per_class.exp().sum(1, keepdim=True))


def test_dataset_helpers_agree_with_the_flow():
    flow = tiny_conditional(seed=2).float()
    levels = torch.randint(0, 4, (6, 1, 2, 2), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    scores = class_bits_per_dim(flow, levels, seed=5)
    assert scores.shape == (6, 3)
    # one dequantisation draw per image shared by the classes: the true-label column is the conditional bpd
    conditional = dataset_bits_per_dim(flow, levels, seed=5, labels=labels)
    assert float(scores[np.arange(6), labels].mean()) == pytest.approx(conditional, abs=1e-5)
    marginal = marginal_bits_per_dim(scores, dim=4)
    # a mixture can only lie between its best class and its best class + log2(K)/D
    assert np.all(marginal >= scores.min(1) - 1e-9) and np.all(marginal <= scores.min(1) + math.log2(3) / 4 + 1e-9)


def test_conditional_flow_round_trips_per_label_and_refuses_missing_labels():
    flow = tiny_conditional().float()
    levels = np.random.default_rng(0).integers(0, 4, (3, 1, 2, 2)).astype(np.uint8)
    result = round_trip(flow, levels, labels=np.array([0, 1, 2]))
    assert result["max_abs_error"] < 1e-4 and result["levels_equal"]
    with pytest.raises(ValueError, match="class-conditional"):
        flow.log_prob(torch.rand(2, 1, 2, 2))
    with pytest.raises(ValueError, match="labels must be integers 0..2"):
        flow.log_prob(torch.rand(2, 1, 2, 2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="unconditional"):
        ImageRealNVP(ImageFlowConfig(hidden=4)).log_prob(torch.rand(1, 1, 8, 8), 1)
    samples = flow.sample(4, 0.7, torch.Generator().manual_seed(0), labels=1)
    assert samples.shape == (4, 1, 2, 2) and float(samples.min()) >= 0 and float(samples.max()) <= 1


def test_sample_image_writes_documented_shape_and_range(tmp_path, capsys):
    torch.set_num_threads(1)
    grey = tmp_path / "grey"
    save_flow(grey, tiny_conditional(n_classes=10).float(), dataset="digits", card={"note": "test"})
    assert json.loads((grey / "card.json").read_text())["n_classes"] == 10
    out = tmp_path / "sevens.npy"
    args = ["sample-image", str(grey), "--label", "7", "--temperature", "0.7", "--seed", "3", "-n", "9"]
    assert cli_main([*args, "-o", str(out)]) == 0
    levels = np.load(out, allow_pickle=False)
    assert levels.shape == (9, 2, 2) and levels.dtype == np.uint8 and int(levels.max()) <= 3
    again = tmp_path / "again.npy"
    cli_main([*args, "-o", str(again)])
    assert np.array_equal(np.load(again), levels)  # the seed reproduces the draw
    colour = tmp_path / "colour"
    config = ImageFlowConfig(channels=3, height=4, width=4, n_levels=256, n_scales=1, n_final=2, hidden=4)
    save_flow(colour, perturb(ImageRealNVP(config)), dataset="patches", card={"note": "test"})
    cli_main(["sample-image", str(colour), "-n", "5", "-o", str(tmp_path / "rgb.npy")])
    rgb = np.load(tmp_path / "rgb.npy")
    assert rgb.shape == (5, 3, 4, 4) and rgb.dtype == np.uint8 and int(rgb.max()) > 16  # 0..255, not 0..16
    capsys.readouterr()
    assert cli_main(["sample-image", str(colour), "--label", "1", "-n", "2", "-o", str(tmp_path / "x.npy")]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert cli_main(["sample-image", str(grey), "--label", "10", "-n", "2", "-o", str(tmp_path / "x.npy")]) == 2
    assert "0..9" in capsys.readouterr().err


def test_train_image_conditional_refuses_unlabelled_data(tmp_path, capsys):
    code = cli_main(["train-image", "--data", "patches", "--conditional", "--out", str(tmp_path / "p"), "--steps", "1"])
    assert code == 2 and "no labels" in capsys.readouterr().err


@pytest.mark.parametrize("name", CONDITIONAL)
def test_shipped_conditional_flow_card_and_samples(name):
    folder = FLOWS_DIR / name
    if not (folder / "card.json").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")
    torch.set_num_threads(1)
    flow = load_flow(name)
    assert flow.card["n_classes"] == 10 and flow.n_classes == 10
    for key in ("test_bpd", "test_bpd_marginal", "bayes_accuracy_test", "command"):
        assert key in flow.card, key
    assert "--conditional" in flow.card["command"]
    assert flow.heldout_labels is not None and flow.heldout_labels.shape == (len(flow.heldout),)
    # Bayes' rule on the shipped held-out images agrees with their labels more often than chance
    x, _ = flow.model.dequantize(torch.as_tensor(flow.heldout), torch.Generator().manual_seed(0))
    with torch.no_grad():
        predicted = flow.model.classify(x).argmax(1).numpy()
    assert (predicted == flow.heldout_labels).mean() >= 0.5
