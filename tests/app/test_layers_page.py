"""AppTest of pages/layers.py: it renders with and without a Playground model, and its numbers add up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.views.layers import quick_trainer

torch.set_num_threads(1)

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "layers.py")
SECTIONS = [
    "1 · Watch the points move",
    "2 · What each layer does",
    "3 · The exact likelihood of one point",
    "4 · Invertibility, checked",
    "5 · Is latent space Gaussian? Where are the holes?",
]
CHARTS = {
    "layers-animation",
    "layers-st-curves",
    "layers-logdet-map",
    "layers-logdet-bars",
    "layers-pick",
    "layers-waterfall",
    "layers-path",
    "layers-roundtrip",
    "layers-latent",
    "layers-holes-map",
}


@pytest.fixture(scope="module")
def small_trainer():
    return quick_trainer("moons", steps=100, n_points=600)


def _charts(at: AppTest) -> dict[str, dict]:
    return {c.proto.id.split("-", 2)[2]: c for c in at.get("plotly_chart")}


def _nats(text: str) -> float:
    return float(re.search(r"[-+]?\d+\.\d+", text).group())


def _check_page(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == SECTIONS
    charts = _charts(at)
    assert CHARTS <= set(charts), set(charts)
    spec = json.loads(charts["layers-animation"].proto.spec)
    assert len(spec["frames"]) >= 9 and spec["layout"]["updatemenus"][0]["bgcolor"]
    metrics = {m.label: m.value for m in at.metric}
    total = _nats(metrics["log p(x), sum of the parts"])
    direct = _nats(metrics["Trainer.log_prob(x), computed directly"])
    assert abs(total - direct) < 1e-5
    sum_of_parts, coupling = at.latex[0].value, at.latex[1].value  # the maths, with the live numbers
    assert r"\mathcal{N}(z; 0, I)" in sum_of_parts
    assert abs(float(re.search(r"\[2pt\](-?\d+\.\d+)", sum_of_parts).group(1)) - total) < 1e-4
    assert "e^{s(x_A)}" in coupling and r"\log\lvert\det J_" in coupling


def test_page_opened_fresh_shows_a_shipped_flow_without_training(monkeypatch):
    from realnvp.training import Trainer

    steps = []
    original = Trainer.step
    monkeypatch.setattr(Trainer, "step", lambda self, n=1: steps.append(n) or original(self, n))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    _check_page(at)
    assert steps == []  # no trainer took a single step: the model came from assets/flows2d
    assert at.segmented_control(key="layers-model-choice").value == "pretrained"
    assert at.selectbox(key="layers-pretrained").value == "moons"
    assert "layers_model" not in at.session_state
    assert "pretrained flow" in at.info[0].value and "assets/flows2d/moons/card.json" in at.info[0].value
    card = json.loads((Path(PAGE).parents[1] / "assets" / "flows2d" / "moons" / "card.json").read_text())
    assert f"step {card['steps']:,}" in at.info[0].value and f"{card['heldout_nll']:.3f} nats" in at.info[0].value
    # both directions in the one animation figure, switched in the browser
    spec = json.loads(_charts(at)["layers-animation"].proto.spec)
    names = [f["name"] for f in spec["frames"]]
    assert names[0] == "forward:0" and "inverse:0" in names and len(names) == 2 * (8 * 5 + 1)
    assert [b["label"] for b in spec["layout"]["updatemenus"][2]["buttons"]] == [
        "data → latent<br>(density)",
        "latent → data<br>(sampling)",
    ]

    # another layer, another point, another shipped flow: still consistent, still no training
    at.selectbox(key="layers-layer").set_value(7).run()
    at.number_input(key="layers-x").set_value(-0.75).run()
    at.number_input(key="layers-y").set_value(0.4).run()
    _check_page(at)
    title = json.loads(_charts(at)["layers-logdet-map"].proto.spec)["layout"]["title"]["text"]
    assert title.startswith("Layer 8: log|det J| over the data plane")
    at.radio(key="layers-logdet-space").set_value("this layer's input plane").run()
    assert not at.exception
    title = json.loads(_charts(at)["layers-logdet-map"].proto.spec)["layout"]["title"]["text"]
    assert "input plane" in title
    at.selectbox(key="layers-pretrained").set_value("spirals").run()
    _check_page(at)
    assert "**spirals**" in at.info[0].value and "12 layers" in at.info[0].value
    assert steps == []


def test_page_trains_its_own_model_on_request():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    at.segmented_control(key="layers-model-choice").set_value("own").run()
    _check_page(at)
    own = at.session_state["layers_model"]
    assert own.step_count == 800 and own.name == "moons"
    assert "this page's own model" in at.info[0].value
    at.run()
    assert at.session_state["layers_model"] is own  # trained once per session, not per rerun


def test_the_animation_figure_is_built_once_per_model_and_settings(small_trainer):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground"] = SimpleNamespace(trainer=small_trainer)
    at.run()
    assert at.session_state["layers_figure_builds"] == 1  # one figure holds both directions
    first = _charts(at)["layers-animation"].proto.spec
    at.selectbox(key="layers-layer").set_value(3).run()  # anything else on the page: the figure is reused
    at.slider(key="layers-n-points").set_value(500).run()
    assert at.session_state["layers_figure_builds"] == 2
    assert len(json.loads(_charts(at)["layers-animation"].proto.spec)["data"][1]["x"]["bdata"]) < len(
        json.loads(first)["data"][1]["x"]["bdata"]
    )
    at.slider(key="layers-n-points").set_value(2000).run()  # back: the first figure, from the cache
    assert at.session_state["layers_figure_builds"] == 2
    assert _charts(at)["layers-animation"].proto.spec == first


def test_page_shows_the_playground_model(small_trainer):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground"] = SimpleNamespace(trainer=small_trainer)
    at.run()
    _check_page(at)
    assert "Playground's model" in at.success[0].value
    assert "layers_model" not in at.session_state  # no training of its own
    assert small_trainer.model.training  # the Playground's model is handed back in training mode
    direct = small_trainer.log_prob([[at.session_state["layers-x"], at.session_state["layers-y"]]])[0]
    shown = _nats({m.label: m.value for m in at.metric}["log p(x), sum of the parts"])
    assert abs(shown - direct) < 1e-5


def test_page_falls_back_when_the_playground_has_not_trained():
    untrained = SimpleNamespace(step_count=0)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground"] = SimpleNamespace(trainer=None, settings=SimpleNamespace(dataset="checkerboard"))
    at.run()
    _check_page(at)
    assert "pretrained flow" in at.info[0].value and "**checkerboard**" in at.info[0].value  # the Playground's data
    at.session_state["playground"] = SimpleNamespace(trainer=untrained)
    at.run()
    _check_page(at)
    assert "layers_model" not in at.session_state


def test_page_survives_a_blown_up_model():
    from realnvp.flow import FlowConfig

    wild = quick_trainer("moons", steps=20, n_points=300, flow=FlowConfig(n_layers=4, scale="exp"))
    with torch.no_grad():
        for p in wild.model.parameters():
            p.add_(3.0 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground"] = SimpleNamespace(trainer=wild)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == SECTIONS
    assert any("NaN/Inf" in w.value for w in at.warning)


def test_page_shows_a_spline_flow():
    from realnvp import FlowConfig

    spline = quick_trainer("checkerboard", steps=40, n_points=600, flow=FlowConfig(n_layers=4, coupling="spline"))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["playground"] = SimpleNamespace(trainer=spline)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == SECTIONS
    charts = _charts(at)
    assert (CHARTS - {"layers-st-curves"}) | {"layers-spline-curves"} <= set(charts), set(charts)
    spec = json.loads(charts["layers-spline-curves"].proto.spec)
    assert len(spec["data"]) == 1 + 5 + 1  # the identity, five kept values, the rug
    assert r"g(x_B \mid x_A)" in at.latex[1].value
    direct = spline.log_prob([[at.session_state["layers-x"], at.session_state["layers-y"]]])[0]
    assert abs(_nats({m.label: m.value for m in at.metric}["log p(x), sum of the parts"]) - direct) < 1e-5


def test_a_link_picks_the_shipped_flow_and_talk_mode_enlarges_the_type():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["flow"] = "8gaussians"
    at.session_state["talk"] = True  # the app sets it from ?talk=1
    at.run()
    _check_page(at)
    assert at.selectbox(key="layers-pretrained").value == "8gaussians"
    assert "**8gaussians**" in at.info[0].value
    for key in ("layers-animation", "layers-pick", "layers-holes-map"):
        layout = json.loads(_charts(at)[key].proto.spec)["layout"]
        assert layout["xaxis"]["tickfont"]["size"] == 20 and layout["title"]["font"]["size"] == 24, key
    plain = AppTest.from_file(PAGE, default_timeout=60)
    plain.query_params["flow"] = "no-such-flow"  # ignored: the first shipped flow
    plain.run()
    assert plain.selectbox(key="layers-pretrained").value == "moons"
    assert json.loads(_charts(plain)["layers-pick"].proto.spec)["layout"]["xaxis"]["tickfont"]["size"] == 16
