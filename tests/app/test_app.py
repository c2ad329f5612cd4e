"""AppTest: every page renders; the Playground's transport, presets, reset and live learning-rate change work."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def fresh_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def step_count(at: AppTest) -> int:
    return int(metric(at, "Step").replace(",", ""))


def live_figures(at: AppTest) -> dict[str, dict]:
    """The Playground's live charts (custom components), by key suffix, as Plotly figure dicts."""
    out = {}
    for element in at.get("bidi_component"):
        if element.proto.component_name == "realnvp_live_chart":
            out[element.proto.id.rsplit("-", 1)[-1]] = json.loads(json.loads(element.proto.json)["figure"])
    return out


def test_playground_renders_and_step_advances():
    at = fresh_app()
    assert step_count(at) == 0
    figures = live_figures(at)
    assert sorted(figures) == ["density", "loss", "points"]
    assert figures["density"]["data"][0]["type"] == "heatmap"
    assert [t["type"] for t in figures["points"]["data"]] == ["scattergl", "scattergl"]
    before = figures["density"]["data"][0]["z"]["bdata"]
    at.button(key="step").click().run()
    assert not at.exception
    first = step_count(at)
    assert first > 0
    at.button(key="step").click().run()
    assert step_count(at) > first
    assert metric(at, "Held-out NLL") != "nan"
    assert live_figures(at)["density"]["data"][0]["z"]["bdata"] != before, "the density chart did not follow"


def test_reset_clears_the_model_and_history():
    at = fresh_app()
    at.button(key="step").click().run()
    assert step_count(at) > 0
    at.button(key="reset").click().run()
    assert step_count(at) == 0
    state = at.session_state["playground"]
    assert state.trainer.history.steps == [] and "reset" in state.notice


def test_preset_sets_its_controls_and_resets():
    at = fresh_app()
    at.selectbox(key="pg-preset").set_value("exp-blowup").run()
    assert not at.exception
    assert at.selectbox(key="pg-scale").value == "exp"
    assert at.select_slider(key="pg-lr").value == 0.1
    assert at.session_state["playground"].trainer.model.config.scale == "exp"
    at.selectbox(key="pg-preset").set_value("spirals").run()
    assert at.selectbox(key="pg-dataset").value == "spirals"
    assert at.slider(key="pg-layers").value == 12


def test_learning_rate_change_mid_run_is_applied_without_reset():
    at = fresh_app()
    at.button(key="step").click().run()
    steps = step_count(at)
    trainer = at.session_state["playground"].trainer
    at.select_slider(key="pg-lr").set_value(0.01).run()
    state = at.session_state["playground"]
    assert state.trainer is trainer, "a learning-rate change must not reset"
    assert trainer.optim.lr == 0.01 and trainer.optimizer.lr == 0.01
    assert step_count(at) == steps
    at.select_slider(key="pg-batch").set_value(128).run()
    assert state.trainer is trainer and trainer.optim.batch_size == 128
    # an architecture change resets visibly
    at.slider(key="pg-layers").set_value(4).run()
    assert state.trainer is not trainer and "layers" in state.notice
    assert any("reset" in i.value for i in at.info)


def test_url_parameters_configure_the_run_and_hostile_ones_are_reported():
    at = fresh_app({"ds": "circles", "seed": "7", "layers": "100000", "lr": "banana"})
    assert at.selectbox(key="pg-dataset").value == "circles"
    assert at.number_input(key="pg-seed").value == 7
    assert at.slider(key="pg-layers").value == 16
    assert any("layers=" in i.value and "lr=" in i.value for i in at.info)


@pytest.mark.parametrize("page", ["pages/about.py", "pages/layers.py", "pages/points.py", "pages/images.py"])
def test_every_page_renders(page):
    assert (ROOT / page).exists()
    at = fresh_app()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_failing_page_shows_a_friendly_error_and_keeps_the_session():
    def script():
        import streamlit as st

        from playground.serving.runtime import run_page_safely

        st.session_state["kept"] = st.session_state.get("kept", 0) + 1

        class Broken:
            def run(self):
                raise KeyError("oops")

        run_page_safely(Broken())
        st.write("after the page")

    at = AppTest.from_function(script)
    at.run()
    assert not at.exception
    assert "Something went wrong" in at.error[0].value and "kept" in at.error[0].value
    at.run()
    assert at.session_state["kept"] == 2


def test_live_charts_fall_back_to_plotly_chart_when_the_browser_lacks_plotly():
    """The component reports ``missing`` when plotly.js never appears; that chart then uses st.plotly_chart."""
    at = fresh_app()
    at.session_state["pg-density-use-plotly-chart"] = True  # what the component's "missing" report sets
    at.run()
    assert not at.exception
    assert sorted(live_figures(at)) == ["loss", "points"]
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and json.loads(charts[0].proto.spec)["data"][0]["type"] == "heatmap"


def test_every_page_file_is_named_like_its_url():
    """A shared link is often a fresh server's first request; Streamlit then routes it by the pages/ folder's file
    names, before app.py's navigation exists. A page whose file is not named like its URL shows "Page not found"
    on top of it (seen in Chromium for /images and /points before the files were renamed). The landing page is
    served at "/" and is exempt (pages/playground.py would shadow the playground package)."""
    import ast

    tree = ast.parse((ROOT / "app.py").read_text())
    pages = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES"
    )
    assert len(pages) >= 5
    for script, _title, _icon, url in pages[1:]:
        assert Path(script).stem == url, (script, url)


def tree_shape(node, path=()) -> dict[tuple, str]:
    """Every position in the page, and whether a block (container, columns) or an element sits there."""
    from streamlit.testing.v1.element_tree import Block

    out = {path: "block" if isinstance(node, Block) else "element"}
    for index, child in getattr(node, "children", {}).items():
        out.update(tree_shape(child, (*path, index)))
    return out


def test_notices_coming_and_going_never_move_the_live_charts():
    # Streamlit addresses elements by position; a timed fragment's late update for a position that now holds a
    # different kind of node made the frontend blank the page ("'setIn' cannot be called on an ElementNode").
    at = fresh_app()
    quiet = tree_shape(at.main)
    state = at.session_state["playground"]
    state.notice = "Model reset."
    state.trainer.history.events.append("The loss blew up at step 3; the guard restored step 0.")
    at.run()
    assert not at.exception
    noisy = tree_shape(at.main)
    assert any(e.value == "Model reset." for e in at.info), "the notice was not shown"
    assert len(at.warning) >= 1, "the event was not shown"
    moved = {p: (kind, noisy.get(p)) for p, kind in quiet.items() if kind == "block" and noisy.get(p) != "block"}
    assert not moved, f"blocks that became elements or vanished when notices appeared: {moved}"
    elements = [p for p, kind in noisy.items() if kind == "element"]
    assert len(elements) == len([p for p, kind in quiet.items() if kind == "element"]) + 2  # just the two notices
