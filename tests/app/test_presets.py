"""The talk presets do what their descriptions promise (trained with the library, as the app does)."""

import math

import pytest

from playground.settings import PRESETS
from realnvp.training import Trainer


def train(name: str, steps: int, every: int = 250) -> tuple[Trainer, list[float]]:
    s = PRESETS[name].settings
    trainer = Trainer.for_dataset(
        s.dataset, s.noise, s.n_points, s.seed, s.flow_config(), s.optim_config(), heldout_points=4096
    )
    gaps = []
    for _ in range(steps // every):
        trainer.step(every)
        trainer.evaluate()
        gaps.append(trainer.gap)
    return trainer, gaps


def test_moons_preset_reaches_the_entropy_floor():
    _, gaps = train("moons", 2000)
    assert min(gaps) <= 0.05, gaps


def test_additive_preset_stalls_above_the_floor():
    # volume-preserving couplings cannot change the base density's entropy: the gap stays large
    _, gaps = train("additive", 1000)
    assert min(gaps) > 0.3, gaps


def test_exp_preset_blows_up_and_recovers():
    trainer, gaps = train("exp-blowup", 3000)
    assert trainer.history.events, "the unbounded-exp preset should trip the NaN guard"
    assert all(math.isfinite(g) for g in gaps) and min(gaps) < 0.5


@pytest.mark.parametrize("name", [n for n in PRESETS if n not in ("moons", "additive", "exp-blowup")])
def test_other_presets_train_without_incident(name):
    trainer, gaps = train(name, 250)
    assert all(math.isfinite(g) for g in gaps) and gaps[-1] < 1.5, gaps
