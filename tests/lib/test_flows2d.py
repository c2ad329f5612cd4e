"""The shipped 2-D flows (assets/flows2d/): each loads from safetensors + JSON, is small, matches its card's sha256,
and its held-out NLL on the data its card names is the number on the card."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from realnvp.checkpoint import load_flow, standardizer_from_meta
from realnvp.datasets import true_entropy
from realnvp.training import Trainer

torch.set_num_threads(1)

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "flows2d"
SCENES = ("moons", "spirals", "checkerboard", "8gaussians")  # the Playground presets' data sets
FLOWS = sorted(d.name for d in ASSETS.iterdir() if (d / "card.json").is_file())


def test_every_scene_data_set_has_a_shipped_flow():
    assert set(SCENES) <= set(FLOWS), FLOWS


@pytest.mark.parametrize("name", FLOWS)
def test_shipped_flow_loads_and_matches_its_card(name):
    folder = ASSETS / name
    card = json.loads((folder / "card.json").read_text())
    weights = (folder / "model.safetensors").read_bytes()
    assert len(weights) == card["size_bytes"] < 500_000  # well under 1 MB
    assert hashlib.sha256(weights).hexdigest() == card["sha256"]
    assert card["command"].startswith("python -m realnvp train-2d ") and "--threads 1" in card["command"]
    assert f"--steps {card['steps']}" in card["command"]

    model, meta = load_flow(folder)
    assert model.config.to_dict() == card["flow"]
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]
    data = card["data"]
    trainer = Trainer.for_dataset(
        data["dataset"],
        noise=data["noise"],
        n_points=data["n_points"],
        seed=data["seed"],
        flow=model.config,
        heldout_points=data["heldout_points"],
    )
    stored = standardizer_from_meta(meta)  # the data regenerated from the card is the data it was trained on
    np.testing.assert_allclose(stored.mean, trainer.standardizer.mean, rtol=1e-12)
    np.testing.assert_allclose(stored.scale, trainer.standardizer.scale, rtol=1e-12)
    trainer.model.load_state_dict(model.state_dict())
    nll = trainer.evaluate(record=False)
    assert nll == pytest.approx(card["heldout_nll"], abs=2e-5)
    assert card["entropy"] == pytest.approx(true_entropy(data["dataset"], data["noise"]), abs=1e-9)
    assert nll - card["entropy"] == pytest.approx(card["gap"], abs=2e-5)
    assert 0 < card["gap"] < 0.5  # trained: far below the untrained flow, above the floor
    # float16 storage costs next to nothing against the float32 weights the CLI trained
    assert abs(card["heldout_nll"] - card["heldout_nll_float32"]) < 1e-3


def test_an_untrained_flow_scores_far_worse_than_the_shipped_one():
    card = json.loads((ASSETS / "moons" / "card.json").read_text())
    model, _ = load_flow(ASSETS / "moons")
    data = card["data"]
    fresh = Trainer.for_dataset(data["dataset"], noise=data["noise"], n_points=data["n_points"], seed=data["seed"])
    assert fresh.evaluate(record=False) > card["heldout_nll"] + 0.5
