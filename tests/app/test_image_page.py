"""The image-flows page renders with Streamlit's AppTest: every flow, the controls, broken and missing models."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import realnvp.image.catalog as catalog
from realnvp.image import ImageFlowConfig, ImageRealNVP

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "image_flows.py")


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
    assert any("MNIST" in c.value and "CC BY-SA 3.0" in c.value for c in at.caption)
    for name in catalog_names:
        at.selectbox(key="img-flow").select(name).run()
        _no_exceptions(at)
        assert at.metric[0].label.startswith("Round-trip")
        assert float(at.metric[0].value) < 1e-3
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
