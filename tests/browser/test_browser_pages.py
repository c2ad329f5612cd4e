"""Real browser: the Layer-by-layer animation plays (frame time reported), a CSV upload trains and scores, a bad
upload shows a message. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.browser.harness import (
    ARTIFACTS,
    assert_no_exception,
    chromium,
    number_in,
    require_browser,
    streamlit_server,
    wait_ready,
)

pytestmark = pytest.mark.browser

FRAME_TIMER = """
() => {
  // Time the animation: record when the animated figure's data changes between requestAnimationFrame ticks.
  window.__frames = [];
  const el = document.querySelector('.st-key-layers-animation .js-plotly-plot');
  if (!el) return false;
  el.on('plotly_animated', () => {});
  el.on('plotly_animatingframe', () => window.__frames.push(performance.now()));
  return true;
}
"""


def goto_page(page, url: str, title: str) -> None:
    page.goto(url)
    wait_ready(page, timeout=120)
    page.get_by_role("link", name=title).first.click()
    wait_ready(page, timeout=120)


def test_layers_page_animation_plays():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {}
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1400}).new_page()
        goto_page(page, url, "Layer by layer")
        page.wait_for_selector(".st-key-layers-animation .js-plotly-plot .main-svg", timeout=120_000)
        assert_no_exception(page)
        assert page.evaluate(FRAME_TIMER)
        page.locator(".st-key-layers-animation .updatemenu-button").first.click()
        time.sleep(4)
        frames = page.evaluate("() => window.__frames")
        assert len(frames) >= 5, f"the animation did not play ({len(frames)} frames)"
        gaps = np.diff(frames)
        report["animation_frames_seen"] = len(frames)
        report["median_frame_ms"] = float(np.median(gaps))
        page.screenshot(path=str(ARTIFACTS / "browser-layers.png"), full_page=True)
    print("\nLAYERS BROWSER REPORT " + json.dumps(report))
    (ARTIFACTS / "layers-report.json").write_text(json.dumps(report, indent=1))


def test_points_page_upload_train_and_bad_file(tmp_path):
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * np.pi, 400)
    ring = np.c_[np.cos(theta), np.sin(theta)] * 3 + rng.normal(scale=0.3, size=(400, 2))
    good = tmp_path / "ring.csv"
    np.savetxt(good, ring, delimiter=",", header="x,y", comments="")
    bad = tmp_path / "broken.csv"
    bad.write_text("name,comment\nalice,hello\nbob,world\n")
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1400}).new_page()
        goto_page(page, url, "Your own points")
        page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(good))
        page.get_by_text("Preview: 400 points").wait_for(timeout=60_000)
        assert_no_exception(page)
        page.locator(".st-key-pts-train button").click()
        page.wait_for_selector(".st-key-pts-step-count", timeout=60_000)
        page.locator(".st-key-pts-play button").click()
        deadline = time.time() + 30
        while time.time() < deadline and (number_in(page, "pts-step-count") or 0) < 300:
            time.sleep(0.3)
        page.locator(".st-key-pts-pause button").click()
        wait_ready(page, timeout=60)
        assert (number_in(page, "pts-step-count") or 0) > 0
        page.get_by_text("Every point scored").wait_for(timeout=60_000)
        assert_no_exception(page)
        trained_steps = number_in(page, "pts-step-count")
        page.screenshot(path=str(ARTIFACTS / "browser-points-trained.png"), full_page=True)

        page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(bad))
        page.get_by_text("Could not use").wait_for(timeout=60_000)
        assert_no_exception(page)
        assert number_in(page, "pts-step-count") == trained_steps, "a bad upload must not touch the model"
        page.screenshot(path=str(ARTIFACTS / "browser-points-bad-upload.png"), full_page=True)


def test_image_flows_page_samples_a_grid_at_two_temperatures():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1200}).new_page()
        goto_page(page, url, "Image flows")
        page.wait_for_selector("[data-testid=stImage] img, .js-plotly-plot .main-svg", timeout=120_000)
        assert_no_exception(page)
        slider = page.locator(".st-key-img-temperature input[type=range]")
        for presses, name in ((-2, "0.70"), (6, "1.00")):  # default 0.8, steps of 0.05
            slider.focus()
            for _ in range(abs(presses)):
                slider.press("ArrowLeft" if presses < 0 else "ArrowRight")
            wait_ready(page, timeout=60)
            page.get_by_text(f"T = {name}").first.wait_for(timeout=60_000)
            assert_no_exception(page)
            page.screenshot(path=str(ARTIFACTS / f"browser-images-T{name}.png"), full_page=True)


def test_a_page_opened_first_on_a_fresh_server_runs_inside_the_app_shell():
    """A shared link to /layers, as the server's very first request: the app's navigation, wide layout and device
    picker, not Streamlit's bare pages-folder router (which lists the files: app, about, layers, ...)."""
    require_browser()
    with streamlit_server() as (url, _proc), chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/layers")
        wait_ready(page, timeout=120)
        page.wait_for_selector("h1:has-text('Layer by layer')", timeout=60_000)
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Layer by layer" in nav and "Your own points" in nav, nav
        assert "your points" not in nav and "\napp\n" not in f"\n{nav}\n", f"the bare pages router ran: {nav}"
        assert page.get_by_text("In use:").count() == 1, "no device picker: app.py's sidebar did not run"
        assert page.url.rstrip("/").endswith("/layers")
        assert_no_exception(page)
