"""AppTest of the talk tools: presenter view, scenes, the guard's learning rate in the widgets and the URL, notices
that clear, keep-playing on a data change, and follow links (read-only, ended, unknown)."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.app.test_app import APP, fresh_app, live_figures, step_count


def sidebar_keys(at: AppTest) -> set[str]:
    keys = set()
    for kind in ("selectbox", "slider", "select_slider", "radio", "toggle", "number_input"):
        keys.update(w.key for w in getattr(at.sidebar, kind) if w.key)
    return keys


def test_presenter_view_moves_controls_into_the_drawer_and_keeps_talk_in_the_url():
    at = fresh_app({"talk": "1"})
    assert at.session_state["talk"] is True
    assert {"pg-dataset", "pg-layers", "pg-lr"} <= sidebar_keys(at)  # controls tucked into the drawer
    assert at.query_params["talk"] in ("1", ["1"])
    assert at.button(key="play") and at.button(key="scene-next")
    figures = live_figures(at)
    # density and samples: identical size, margins and axis ranges, so the audience compares like with like
    d, p = figures["density"]["layout"], figures["points"]["layout"]
    assert d["height"] == p["height"] == 470 and d["margin"] == p["margin"]
    assert d["xaxis"]["range"] == p["xaxis"]["range"] and d["yaxis"]["range"] == p["yaxis"]["range"]
    at.sidebar.toggle(key="talk").set_value(False).run()
    assert "talk" not in at.query_params
    assert "pg-dataset" not in sidebar_keys(at)


def test_scenes_apply_their_settings_and_state_their_promise():
    at = fresh_app()
    assert any("Press → or ▶ to start" in c.value for c in at.caption)
    at.button(key="scene-next").click().run()  # starts the script at scene 1
    cursor = at.session_state["scenes"]
    assert cursor.active and cursor.index == 0
    at.button(key="scene-next").click().run()
    assert cursor.index == 1
    state = at.session_state["playground"]
    assert state.settings == cursor.scene.settings
    assert at.query_params["sched"] in ("cosine", ["cosine"]) and at.query_params["decay"] in ("2000", ["2000"])
    assert any("Promise, measured for 10 seeds: within" in c.value for c in at.caption)
    at.slider(key="pg-layers").set_value(3).run()  # the speaker departs from the scene
    assert any("promise no longer applies" in c.value for c in at.caption)
    at.button(key="scene-prev").click().run()
    assert cursor.index == 0 and state.settings == cursor.scene.settings


def test_a_learning_rate_the_guard_lowered_shows_in_the_slider_and_the_url():
    at = fresh_app()
    state = at.session_state["playground"]
    state.trainer.set_lr(0.0025)  # what the NaN guard does after a blow-up: halve the trainer's learning rate
    at.run()
    assert state.settings.lr == 0.0025
    assert at.select_slider(key="pg-lr").value == 0.0025
    assert at.query_params["lr"] in ("0.0025", ["0.0025"])


def test_notices_clear_once_they_no_longer_apply():
    at = fresh_app()
    at.slider(key="pg-layers").set_value(4).run()
    assert "layers" in at.session_state["playground"].notice
    at.button(key="step").click().run()
    assert at.session_state["playground"].notice is None
    at.selectbox(key="pg-preset").set_value("spirals").run()
    at.selectbox(key="pg-dataset").set_value("moons").run()
    assert at.selectbox(key="pg-preset").value == "—"  # the preset's label went with its dataset


def test_changing_the_data_while_playing_resets_and_keeps_playing():
    at = fresh_app()
    at.button(key="play").click().run()
    state = at.session_state["playground"]
    try:
        assert state.playing
        old = state.trainer
        at.selectbox(key="pg-dataset").set_value("circles").run()
        assert state.trainer is not old and state.playing
        assert "Still playing" in state.notice
    finally:
        state.stop_training()


def test_followers_see_the_speakers_run_read_only_and_learn_when_it_ended():
    speaker = fresh_app()
    speaker.toggle(key="follow-on").set_value(True).run()
    broadcast = speaker.session_state["follow-broadcast"]
    assert len(broadcast.id) >= 20  # 128 random bits, url-safe
    assert any(f"?follow={broadcast.id}" in c.value for c in speaker.code)
    speaker.button(key="step").click().run()
    steps = step_count(speaker)
    assert steps > 0 and broadcast.step == steps

    follower = AppTest.from_file(APP, default_timeout=60)
    follower.query_params["follow"] = broadcast.id
    follower.run()
    assert not follower.exception
    assert any(m.label == "Step" and m.value == f"{steps:,}" for m in follower.metric)
    assert sorted(live_figures(follower)) == ["density", "loss", "points"]
    # nothing that could change the run: no transport, no settings, no follow toggle
    assert not [b for b in follower.button if b.key in {"play", "pause", "step", "reset", "scene-next"}]
    assert not follower.selectbox and not follower.slider and "playground" not in follower.session_state

    speaker.button(key="step").click().run()
    follower.run()
    assert any(m.label == "Step" and m.value == f"{step_count(speaker):,}" for m in follower.metric)
    speaker.toggle(key="follow-on").set_value(False).run()
    follower.run()
    assert any("This run has ended" in w.value for w in follower.warning)

    stranger = AppTest.from_file(APP, default_timeout=60)
    stranger.query_params["follow"] = "guessed-id"
    stranger.run()
    assert stranger.error and "does not match a run" in stranger.error[0].value


def test_follow_link_survives_a_paused_speaker():
    speaker = fresh_app()
    speaker.toggle(key="follow-on").set_value(True).run()
    broadcast = speaker.session_state["follow-broadcast"]
    published = broadcast.published_at
    time.sleep(0.05)
    speaker.run()  # any frame of the speaker's page (the paused page's heartbeat) republishes
    assert broadcast.published_at > published and not broadcast.ended


def test_presenter_view_opens_on_any_page_from_the_url():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["talk"] = "1"
    at.run()
    at.switch_page("pages/layers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["talk"] is True and at.sidebar.toggle(key="talk").value is True
    assert any("font-size: 19px" in h.proto.body for h in at.get("html"))  # the presenter view's type
