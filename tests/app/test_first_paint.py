"""A browser's first run of the Playground holds the controls back to the next run; runs without a browser do not.

AppTest sends no HTTP headers, so a stand-in for ``st.context`` with a browser's headers plays the browser here; the
real first visit (the beacon's rerun, plotly.js waiting for the controls) is in tests/browser/test_browser_preview.py.
"""

from pathlib import Path
from types import SimpleNamespace

import streamlit
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def controls_drawn(at: AppTest) -> bool:
    return any(s.key == "pg-layers" for s in at.slider)


def beacons(at: AppTest) -> list:
    return [e for e in at.get("bidi_component") if e.proto.component_name.endswith("realnvp_first_paint")]


def test_a_browser_gets_the_numbers_first_and_the_controls_on_the_next_run(monkeypatch):
    monkeypatch.setattr(streamlit, "context", SimpleNamespace(cookies={}, headers={"Host": "127.0.0.1"}))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not controls_drawn(at)
    assert any("Loading the controls" in c.value for c in at.caption)
    assert len(beacons(at)) == 1
    assert at.metric, "the first run drew no numbers"
    at.run()  # the run the beacon asks for once the page has painted (or any click)
    assert controls_drawn(at)
    assert not beacons(at)
    assert not any("Loading the controls" in c.value for c in at.caption)
    at.button(key="step").click().run()
    assert controls_drawn(at), "a later run lost the controls"


def test_without_a_browser_the_controls_come_in_the_first_run():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert controls_drawn(at)
    assert not beacons(at)


def test_the_presenter_view_holds_its_sidebar_controls_back_the_same_way(monkeypatch):
    monkeypatch.setattr(streamlit, "context", SimpleNamespace(cookies={}, headers={"Host": "127.0.0.1"}))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["talk"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not controls_drawn(at)
    assert any("Loading the controls" in c.value for c in at.sidebar.caption)
    assert len(beacons(at)) == 1
    assert at.metric, "the first run drew no numbers"
    at.run()
    assert any(s.key == "pg-layers" for s in at.sidebar.slider), "the presenter's controls are not in the sidebar"
    assert not beacons(at)
