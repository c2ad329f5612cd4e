"""The Race: its URL, its reproducibility, its fair share of the CPU, its results table, and an AppTest of the page.

Fairness is counted in steps, not timed: with a deterministic clock that charges each contestant a fixed cost per
step, equal turns of CPU time must give step counts in the inverse ratio of the costs (within one turn); with the
real clock, two identical contestants must end within a ratio of 1.5 of each other's step count.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.serving.race import Race, RaceState
from playground.settings import Settings
from playground.views.race import (
    RACE_PRESETS,
    ContestantResult,
    RaceConfig,
    decode_contestant,
    encode_contestant,
    from_query,
    results_rows,
    seconds_to_within,
    to_query,
)
from realnvp.training import Trainer

torch.set_num_threads(1)

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "race.py")
SMALL = dict(dataset="moons", noise=0.1, n_points=600, seed=3)


def small_race(*contestants: Settings, **kwargs) -> Race:
    return Race(RaceConfig(**SMALL, contestants=contestants), heldout_points=300, **kwargs)


# -- the URL ---------------------------------------------------------------------------------------------------------
def test_every_preset_and_a_custom_race_round_trip_through_the_url():
    for name, preset in RACE_PRESETS.items():
        query = to_query(preset.config)
        assert query == {"race": name}
        assert from_query(query) == (preset.config, [])
    custom = RaceConfig(
        dataset="pinwheel",
        noise=0.2,
        n_points=1500,
        seed=7,
        contestants=(
            Settings(coupling="spline", n_layers=3, width=32),
            Settings(scale="exp", lr=0.02, batch_size=64, grad_clip=0.0),
            Settings(mask="parity", norm="actnorm", optimizer="adamw", depth=3),
            Settings(coupling="additive"),
        ),
    )
    query = to_query(custom)
    assert query["race"] == "custom" and query["c1"] == "layers:3,width:32,coupling:spline"
    assert from_query(query) == (custom, [])
    for contestant in custom.contestants:
        assert decode_contestant(encode_contestant(contestant)) == (Settings(**{
            **contestant.to_dict(), **{k: getattr(Settings(), k) for k in ("dataset", "noise", "n_points", "seed")}
        }), [])  # fmt: skip


def test_a_hostile_url_is_clamped_or_ignored_with_notes_never_an_exception():
    config, notes = from_query(
        {"race": "nope", "ds": "mandelbrot", "n": "1e9", "c1": "layers:1000,coupling:cubic,bogus", "c3": "lr:x"}
    )
    assert config.n_points == 20_000 and config.dataset == RACE_PRESETS["spline-checkerboard"].config.dataset
    assert config.contestants[0].n_layers == 16 and config.contestants[0].coupling == "affine"
    assert len(config.contestants) == 2  # c1 and c3 given: two contestants
    text = " ".join(notes)
    for fragment in ("'nope' is not a preset", "mandelbrot", "outside", "cubic", "bogus", "'x' is not a number"):
        assert fragment in text, (fragment, notes)
    one, notes = from_query({"race": "custom", "c1": "layers:4"})
    assert len(one.contestants) == 2 and "added a default one" in " ".join(notes)
    with pytest.raises(ValueError, match="2 to 4"):
        RaceConfig(contestants=(Settings(),) * 5)


# -- reproducible from its URL ---------------------------------------------------------------------------------------
def test_a_race_of_two_is_reproducible_from_its_url():
    config = RaceConfig(**SMALL, contestants=(Settings(n_layers=3, lr=3e-3), Settings(coupling="spline", n_layers=2)))
    url = to_query(config)
    first = Race(from_query(url)[0], heldout_points=300)
    second = Race(from_query(url)[0], heldout_points=300)
    first.step_each(30)
    for _ in range(3):  # the same step counts in other chunks
        second.step_each(10)
    a, b = first.evaluate(), second.evaluate()
    assert [t.step_count for t in first.trainers] == [t.step_count for t in second.trainers] == [30, 30]
    assert a == b  # bit for bit
    assert a[0] != a[1]  # and the contestants differ
    # same data, split and seed for everyone: each contestant is exactly the trainer it would be alone
    for trainer, settings in zip(first.trainers, config.contestants, strict=True):
        alone = Trainer.for_dataset(
            "moons", noise=0.1, n_points=600, seed=3, flow=settings.flow_config(), optim=settings.optim_config(),
            heldout_points=300,
        )  # fmt: skip
        alone.step(30)
        assert alone.evaluate() == trainer.evaluate()
        assert (alone.train_points == first.trainers[0].train_points).all()


# -- a fair share of the CPU, counted in steps ----------------------------------------------------------------------
class StepCostClock:
    """A clock that advances only while a contestant trains: ``cost[i]`` seconds per step of contestant ``i``."""

    def __init__(self, costs):
        self.costs, self.race = costs, None

    def __call__(self) -> float:
        if self.race is None:
            return 0.0
        return sum(c * t.step_count for c, t in zip(self.costs, self.race.trainers, strict=True))


@pytest.mark.parametrize("costs", [(1e-3, 1e-3), (1e-3, 4e-3), (2e-3, 1e-3, 6e-3, 1e-3)])
def test_turns_of_equal_cpu_time_give_steps_in_inverse_ratio_of_the_costs(costs):
    clock = StepCostClock(costs)
    race = small_race(*(Settings(n_layers=1, width=8, depth=1) for _ in costs), clock=clock, turn_s=0.02)
    clock.race = race
    race.step(40)
    steps = [t.step_count for t in race.trainers]
    for i, j in ((0, k) for k in range(1, len(costs))):
        # CPU used: steps × cost; turns of 0.02 s, the remainder carried over: equal to within one turn
        used_i, used_j = steps[i] * costs[i], steps[j] * costs[j]
        assert abs(used_i - used_j) <= 0.02 + max(costs), (steps, costs)
        expected = costs[j] / costs[i]
        assert 0.9 * expected <= steps[i] / steps[j] <= 1.1 * expected, (steps, costs)
    assert [round(lane.seconds, 6) for lane in race.lanes] == [
        round(s * c, 6) for s, c in zip(steps, costs, strict=True)
    ]


def test_identical_contestants_get_step_counts_within_a_ratio_of_one_and_a_half_on_the_real_clock():
    race = small_race(Settings(n_layers=2, width=16), Settings(n_layers=2, width=16), turn_s=0.01)
    race.step(30)
    a, b = (t.step_count for t in race.trainers)
    assert max(a, b) / min(a, b) <= 1.5, (a, b)


# -- results ---------------------------------------------------------------------------------------------------------
def test_results_table_and_seconds_to_within_a_tenth_of_a_nat():
    race = small_race(Settings(n_layers=2), Settings(coupling="additive", n_layers=2))
    race.step_each(40)
    race.evaluate()
    results = race.results()
    assert [r.steps for r in results] == [40, 40]
    assert results[0].eval_steps == (0, 40) and results[0].eval_seconds[0] == 0.0 and results[0].train_seconds > 0
    assert results[0].parameters == sum(p.numel() for p in race.trainers[0].model.parameters())
    rows = results_rows(results)
    assert [row["contestant"] for row in rows] == ["A · affine, 2 layers", "B · additive, 2 layers"]
    assert rows[0]["held-out NLL"] == f"{race.trainers[0].evaluate():.3f}"
    assert rows[0]["gap to floor"] == f"{results[0].gap:+.3f}"
    r = ContestantResult("x", 1, 3, 3.0, (0, 1, 2), (0.0, 1.0, 2.0), (3.0, 1.08, 1.2), entropy=1.0)
    assert seconds_to_within(r.eval_seconds, r.heldout_nll, r.entropy) == 1.0
    assert seconds_to_within(r.eval_seconds, r.heldout_nll, r.entropy, nats=0.05) is None
    assert seconds_to_within((0.0,), (float("nan"),), 1.0) is None


def test_race_state_step_reset_and_background_play():
    state = RaceState(config=RaceConfig(**SMALL, contestants=(Settings(n_layers=2), Settings(n_layers=1))))
    state.reset()
    state.advance(20)
    assert [t.step_count for t in state.trainer.trainers] == [20, 20]
    state.start_training(None, "test")
    deadline = time.monotonic() + 20
    while state.trainer.step_count < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        state.worker.beat()
    state.stop_training()
    assert not state.playing and min(t.step_count for t in state.trainer.trainers) > 20
    display = state.current_display()
    assert len(display.log_p) == 2 and display.steps == tuple(t.step_count for t in state.trainer.trainers)
    state.reset("again")
    assert [t.step_count for t in state.trainer.trainers] == [0, 0] and state.notice == "again"


# -- the page --------------------------------------------------------------------------------------------------------
def _page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _steps(at: AppTest, n: int) -> list[int]:
    return [int(at.session_state["race"].trainer.trainers[i].step_count) for i in range(n)]


def test_page_opens_on_its_default_race_steps_resets_and_keeps_the_race_in_the_url():
    at = _page()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Race"
    state = at.session_state["race"]
    assert state.config == RACE_PRESETS["spline-checkerboard"].config
    assert at.query_params["race"] in ("spline-checkerboard", ["spline-checkerboard"])
    values = [m.value for m in at.metric]
    assert values.count("0") == 2  # both contestants at step 0
    at.button(key="race-step").click().run()
    assert not at.exception and _steps(at, 2) == [50, 50]
    assert [m.value for m in at.metric].count("50") == 2
    table = at.dataframe[0].value
    assert list(table["steps"]) == ["50", "50"] and len(table) == 2
    at.button(key="race-reset").click().run()
    assert _steps(at, 2) == [0, 0]


def test_page_from_a_custom_url_with_four_contestants_and_a_preset_switch():
    query = to_query(
        RaceConfig(
            dataset="circles", noise=0.05, n_points=800, seed=1,
            contestants=(Settings(n_layers=2), Settings(n_layers=1), Settings(coupling="additive", n_layers=2),
                         Settings(coupling="spline", n_layers=1)),
        )
    )  # fmt: skip
    at = _page(query)
    assert not at.exception, [e.value for e in at.exception]
    state = at.session_state["race"]
    assert len(state.config.contestants) == 4 and state.config.dataset == "circles"
    assert len(at.dataframe[0].value) == 4
    at.button(key="race-step").click().run()
    assert _steps(at, 4) == [50, 50, 50, 50]
    at.selectbox(key="race-preset").set_value("depth").run()
    assert not at.exception
    assert at.session_state["race"].config == RACE_PRESETS["depth"].config
    assert at.query_params["race"] in ("depth", ["depth"])
    # an edit makes it a race of one's own, spelled out in the URL
    at.radio(key="race-n").set_value(3).run()
    assert not at.exception and len(at.session_state["race"].config.contestants) == 3
    race_param = at.query_params["race"]
    assert race_param in ("custom", ["custom"])
    assert at.selectbox(key="race-preset").value is None  # the preset box no longer claims a preset


def test_page_with_a_hostile_url_warns_and_plays():
    at = _page({"race": "nope", "c1": "layers:999", "c2": "coupling:spline,layers:1"})
    assert not at.exception
    assert any("adjusted" in w.value for w in at.warning)
    at.button(key="race-play").click().run()
    state = at.session_state["race"]
    assert state.playing
    deadline = time.monotonic() + 30
    while min(t.step_count for t in state.trainer.trainers) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        state.worker.beat()
    at.button(key="race-pause").click().run()
    assert not at.exception and not state.playing
    assert min(_steps(at, 2)) > 0


def test_the_race_opens_inside_the_app_and_leaving_the_page_pauses_it():
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/race.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Race"
    at.button(key="race-play").click().run()
    state = at.session_state["race"]
    assert state.playing
    at.switch_page("pages/about.py").run()
    assert not at.exception and not state.playing  # training runs only while its page is on screen
