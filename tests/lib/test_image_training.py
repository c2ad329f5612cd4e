"""ImageTrainer: the live image trainer takes reproducible steps, learns, and saves a flow like a shipped one."""

from __future__ import annotations

import numpy as np
import torch

from realnvp.cli import main as cli_main
from realnvp.image import ImageFlowConfig
from realnvp.image.catalog import load_flow
from realnvp.image.data import load_image_data
from realnvp.image.training import ImageTrainer, downsample

SMALL = ImageFlowConfig(hidden=8, n_checker=1, n_channel=1, n_final=2)


def test_same_seed_same_steps_and_the_grid_moves_only_with_the_model():
    torch.set_num_threads(1)
    a, b = (ImageTrainer("digits", config=SMALL, seed=3, n_val=30) for _ in range(2))
    grid_before = a.sample_grid(0.8)
    a.step(5)
    b.step(5)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a.evaluate() == b.evaluate()
    # the grid's latents are fixed: the same model gives the same grid, a changed model a changed one
    assert torch.equal(a.sample_grid(0.8), b.sample_grid(0.8))
    assert not torch.allclose(a.sample_grid(0.8), grid_before)
    other = ImageTrainer("digits", config=SMALL, seed=4, n_val=30)
    assert not torch.equal(other.grid_latents[0], a.grid_latents[0])


def test_training_lowers_validation_bits_per_dim():
    torch.set_num_threads(1)
    trainer = ImageTrainer("digits", config=SMALL, seed=0, n_val=60, lr=3e-3)
    start = trainer.evaluate()
    trainer.step(60)
    after = trainer.evaluate()
    assert after < start - 0.3, (start, after)
    assert trainer.history.eval_steps == [0, 60] and len(trainer.history.train_bpd) == 1
    assert trainer.seconds > 0


def test_conditional_trainer_saves_a_flow_that_loads_and_samples(tmp_path):
    torch.set_num_threads(1)
    trainer = ImageTrainer("digits", config=SMALL, conditional=True, seed=0, n_val=20)
    trainer.step(3)
    folder = trainer.save(tmp_path / "live")
    loaded = load_flow(folder)
    assert loaded.n_classes == 10 and loaded.card["n_classes"] == 10 and loaded.card["steps"] == 3
    assert loaded.heldout_labels is not None and len(loaded.heldout_labels) == len(loaded.heldout)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(loaded.model.log_prob(x, 4), trainer.model.eval().log_prob(x, 4))
    assert cli_main(["sample-image", str(folder), "--label", "2", "-n", "3", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (3, 8, 8)
    assert trainer.sample_grid().shape == (36, 1, 8, 8)
    assert trainer.grid_labels.tolist()[:11] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_downsample_keeps_splits_and_labels():
    data = load_image_data("digits")
    small = downsample(data, 2)
    assert small.train.shape == (len(data.train), 1, 4, 4) and small.n_levels == 17
    assert np.array_equal(small.test_labels, data.test_labels)
    block = data.train[0, 0, :2, :2].astype(float).mean()
    assert small.train[0, 0, 0, 0] == np.rint(block)
