"""Playground settings: caps, URL round trip, hostile query strings (property-based), presets."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.settings import LIMITS, PRESETS, QUERY_KEYS, Settings, apply_preset, clamp, from_query, to_query


def test_defaults_round_trip_through_the_url():
    s = Settings(dataset="spirals", noise=0.07, seed=42, n_layers=5, width=32, lr=0.002, steps_per_frame=25)
    back, notes = from_query(to_query(s))
    assert back == s and notes == []


def test_hostile_values_are_clamped_or_refused_with_a_note():
    s, notes = from_query(
        {"layers": "100000", "batch": "1e12", "n": "-5", "lr": "nan", "ds": "<script>", "width": "abc", "noise": "inf"}
    )
    assert s.n_layers == LIMITS["n_layers"].high and s.batch_size == LIMITS["batch_size"].high
    assert s.n_points == LIMITS["n_points"].low
    assert s.lr == Settings().lr and s.dataset == "moons" and s.width == Settings().width
    assert s.noise == Settings().noise
    joined = " ".join(notes)
    for key in ("layers", "batch", "n=", "lr", "ds", "width", "noise"):
        assert key in joined
    assert len(notes) == 7


def test_clamp():
    assert clamp("n_layers", 3.6) == 4 and isinstance(clamp("n_layers", 3.6), int)
    assert clamp("lr", 10.0) == LIMITS["lr"].high
    assert clamp("noise", 0.0) == LIMITS["noise"].low


def test_needs_reset_only_for_data_or_architecture():
    base = Settings()
    assert not Settings(lr=0.01).needs_reset(base)
    assert not Settings(batch_size=64, grad_clip=0.0, steps_per_frame=10).needs_reset(base)
    assert Settings(n_layers=4).needs_reset(base) and Settings(seed=1).needs_reset(base)


def test_presets_are_valid_settings_that_survive_the_url():
    for name in PRESETS:
        s = apply_preset(name)
        s.flow_config()
        s.optim_config()
        assert from_query(to_query(s))[0] == s


def test_an_unknown_preset_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: " + ", ".join(PRESETS)):
        apply_preset("no-such-preset")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(QUERY_KEYS.values()) + ["x", "page"]), st.text(max_size=40)))
def test_any_query_string_gives_valid_bounded_settings(params):
    s, notes = from_query(params)
    assert isinstance(notes, list) and all(isinstance(n, str) for n in notes)
    for field, limit in LIMITS.items():
        value = getattr(s, field, None)
        if value is None or (field == "steps_per_frame" and value == 0):
            continue
        assert limit.low <= value <= limit.high and math.isfinite(value)
    s.flow_config()
    s.optim_config()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(QUERY_KEYS.values())), st.floats(allow_nan=True, allow_infinity=True)))
def test_numeric_garbage_never_escapes_the_limits(params):
    s, _ = from_query({k: repr(v) for k, v in params.items()})
    assert 1 <= s.n_layers <= 16 and 8 <= s.batch_size <= 2048 and 100 <= s.n_points <= 20_000
