"""The image-flows page renders with Streamlit's AppTest: every flow, the controls, broken and missing models."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import realnvp.image.catalog as catalog
from realnvp.image import ImageFlowConfig, ImageRealNVP

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "images.py")


def _tiny_catalogue(root):
    """Two small untrained flows shaped like the shipped ones (fast, independent of assets/)."""
    import numpy as np

    for name, (c, h, k) in {"digits": (1, 8, 17), "rgb": (3, 8, 256)}.items():
        flow = ImageRealNVP(ImageFlowConfig(channels=c, height=h, width=h, n_levels=k, hidden=4))
        heldout = np.random.default_rng(0).integers(0, k, (4, c, h, h)).astype(np.uint8)
        catalog.save_flow(root / name, flow, dataset="digits", card={"test_bpd": 9.9}, heldout=heldout)
    return root


def _names(at: AppTest) -> list[str]:
    return [option.split(" — ")[0] for option in at.selectbox(key="img-flow").options]


def _no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_page_renders_the_shipped_flows():
    if not catalog.list_flows():
        pytest.skip("no shipped flows in this checkout")
    catalog_names = [f.name for f in catalog.list_flows() if f.ok]
    at = AppTest.from_file(PAGE, default_timeout=60)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    _no_exceptions(at)
    assert _names(at) == catalog_names
    assert len(at.get("image")) >= 5  # samples, held-out row, round trip, interpolation, scales
    for name in catalog_names:
        at.selectbox(key="img-flow").select(name).run()
        _no_exceptions(at)
        assert at.metric[0].label.startswith("Round-trip")
        assert float(at.metric[0].value) < 1e-3
        # the MNIST attribution is shown for MNIST flows only (not for the digits or the photo patches)
        mnist_credit = any("MNIST" in c.value and "CC BY-SA 3.0" in c.value for c in at.caption)
        assert mnist_credit == name.startswith("mnist"), name
        # the card's table survives a "|" in its text (the dequantisation formula has one)
        table = next(m.value for m in at.markdown if m.value.startswith("| | |"))
        assert all(row.count("|") - row.count("\\|") == 3 for row in table.splitlines()), table
    print(f"first render {first:.2f} s")


def test_controls_change_what_is_drawn(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FLOWS_DIR", _tiny_catalogue(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _no_exceptions(at)
    at.slider(key="img-temperature").set_value(0.3).run()
    at.button(key="img-reseed").click().run()
    assert at.number_input(key="img-seed").value == 1
    at.select_slider(key="img-n").set_value(16).run()
    at.slider(key="img-image").set_value(2).run()
    at.slider(key="img-steps").set_value(5).run()
    at.radio(key="img-scale").set_value(1).run()
    _no_exceptions(at)
    at.selectbox(key="img-flow").select("rgb").run()
    _no_exceptions(at)


def test_corrupt_model_is_disabled_with_a_message(tmp_path, monkeypatch):
    root = _tiny_catalogue(tmp_path)
    (root / "rgb" / "model.safetensors").write_bytes(b"garbage")
    monkeypatch.setattr(catalog, "FLOWS_DIR", root)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _no_exceptions(at)
    assert _names(at) == ["digits"]
    assert any("rgb" in w.value and "disabled" in w.value for w in at.warning)


def test_no_models_shows_an_error_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FLOWS_DIR", tmp_path / "empty")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _no_exceptions(at)
    assert at.error and "No image flow" in at.error[0].value


def test_missing_heldout_images_are_handled(tmp_path, monkeypatch):
    root = _tiny_catalogue(tmp_path)
    (root / "digits" / "heldout.npy").unlink()
    shutil.rmtree(root / "rgb")
    monkeypatch.setattr(catalog, "FLOWS_DIR", root)
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    _no_exceptions(at)
    assert any("no held-out" in i.value for i in at.info)


def _conditional_catalogue(root):
    import numpy as np

    flow = ImageRealNVP(ImageFlowConfig(hidden=4, n_classes=10))
    heldout = np.random.default_rng(0).integers(0, 17, (6, 1, 8, 8)).astype(np.uint8)
    catalog.save_flow(
        root / "digits-conditional",
        flow,
        dataset="digits",
        card={"test_bpd": 9.9, "bayes_accuracy_test": 0.5, "test_bpd_marginal": 9.95},
        heldout=heldout,
        heldout_labels=np.arange(6) % 10,
    )
    return root


def test_conditional_flow_asks_for_a_class_and_classifies(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FLOWS_DIR", _conditional_catalogue(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    _no_exceptions(at)
    assert "class-conditional" in at.selectbox(key="img-flow").options[0]
    assert [t.label for t in at.tabs][1] == "Ask for a class · classify"
    at.segmented_control(key="img-class").set_value(3).run()
    _no_exceptions(at)
    assert any("samples of class 3" in c for c in _image_captions(at))
    at.slider(key="img-classify").set_value(4).run()
    _no_exceptions(at)
    assert any("Bayes' rule labels" in c.value for c in at.caption)
    table = next(m.value for m in at.markdown if m.value.startswith("| | |"))
    assert "given the label" in table and "label unknown" in table


def _image_captions(at: AppTest) -> list[str]:
    return [img.caption for element in at.get("image") for img in element.proto.imgs]


def _wait_for_steps(at: AppTest, minimum: int, timeout: float = 30.0) -> int:
    state = at.session_state["image-live"]
    deadline = time.monotonic() + timeout
    while state.trainer.step_count < minimum and time.monotonic() < deadline:
        time.sleep(0.2)
    return state.trainer.step_count


def test_train_live_plays_pauses_steps_and_hands_its_model_to_the_tabs(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FLOWS_DIR", _tiny_catalogue(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.segmented_control(key="img-mode").set_value("Train live").run()
    _no_exceptions(at)
    assert at.session_state["image-live"].trainer.step_count == 0
    at.button(key="img-live-step").click().run()
    assert at.session_state["image-live"].trainer.step_count == 10
    at.button(key="img-live-play").click().run()
    assert at.session_state["image-live"].playing
    assert _wait_for_steps(at, 14) >= 14  # the background worker trains while nobody reruns the page
    at.button(key="img-live-pause").click().run()
    state = at.session_state["image-live"]
    assert not state.playing
    paused_at = state.trainer.step_count
    time.sleep(0.5)
    assert state.trainer.step_count == paused_at  # paused means paused
    at.run()
    step_metric = next(m for m in at.metric if m.label == "Step")
    assert int(step_metric.value.replace(",", "")) == paused_at
    assert any("validation" in m.label.lower() for m in at.metric)
    at.select_slider(key="img-live-lr").set_value(1e-3).run()
    assert state.trainer.lr == 1e-3  # the learning rate changes live, without a reset
    assert state.trainer.step_count == paused_at
    at.button(key="img-live-use").click().run()
    _no_exceptions(at)
    assert at.segmented_control(key="img-mode").value == "Pretrained flows"
    assert at.selectbox(key="img-flow").value == "your model"
    assert float(at.metric[0].value) < 1e-3  # its encode/decode round trip works like a shipped flow's


def test_train_live_conditional_toggle_resets_to_a_labelled_model(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FLOWS_DIR", _tiny_catalogue(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.segmented_control(key="img-mode").set_value("Train live").run()
    at.toggle(key="img-live-conditional").set_value(True).run()
    _no_exceptions(at)
    state = at.session_state["image-live"]
    assert state.trainer.config.n_classes == 10
    assert any("column = class" in c for c in _image_captions(at))
