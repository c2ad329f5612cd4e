"""Real browser: the Layer-by-layer animation plays (frame time reported), a CSV upload with swapped columns is
fitted, scored and downloaded, a bad upload shows a message and keeps the fit. Screenshots go to tests/artifacts/."""

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


def test_points_page_upload_swap_fit_download_and_bad_file(tmp_path):
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * np.pi, 300)
    ring = np.c_[np.cos(theta) * 0.05 + 8.5, np.sin(theta) * 40 + 1000] + rng.normal(scale=[0.005, 4], size=(300, 2))
    good = tmp_path / "stations.csv"
    good.write_text("lon,alt_m,station\n" + "".join(f"{a:.4f},{b:.1f},st{i}\n" for i, (a, b) in enumerate(ring)))
    bad = tmp_path / "broken.csv"
    bad.write_text("name,comment\nalice,hello\nbob,world\n")
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1400}, accept_downloads=True).new_page()
        goto_page(page, url, "Your own points")
        page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(good))
        page.get_by_text("Preview: 300 points").wait_for(timeout=60_000)
        assert_no_exception(page)
        page.locator(".st-key-pts-swap button").click()
        wait_ready(page, timeout=60)
        page.locator(".st-key-pts-preview .xtitle").filter(has_text="alt_m").wait_for(timeout=30_000)
        assert "lon" in page.locator(".st-key-pts-preview .ytitle").text_content()
        page.screenshot(path=str(ARTIFACTS / "browser-points-swapped.png"), full_page=True)

        page.locator("[data-testid=stExpander] summary").filter(has_text="Fit settings").click()
        slider = page.locator(".st-key-pts-budget input[type=range], .st-key-pts-budget [role=slider]").first
        slider.focus()
        slider.press("Home")  # the shortest budget (3 s)
        wait_ready(page, timeout=60)
        page.locator(".st-key-pts-fit button").click()
        page.get_by_text("A flow fitted to").wait_for(timeout=120_000)
        wait_ready(page, timeout=60)
        assert_no_exception(page)
        assert page.locator(".st-key-pts-scores .js-plotly-plot").count() == 1
        flagged = number_in(page, "pts-flagged")
        assert flagged is not None and flagged < 30  # a 1% calibrated flag on 300 ordinary points
        with page.expect_download(timeout=60_000) as download:
            page.locator(".st-key-pts-download-scores button").click()
        scored = download.value.path().read_text()
        header = scored.splitlines()[0].split(",")
        assert header[:4] == ["row", "lon", "alt_m", "station"] and "flagged" in header
        assert scored.splitlines()[1].startswith("2,")  # the first data row is the file's row 2
        page.screenshot(path=str(ARTIFACTS / "browser-points-flagged.png"), full_page=True)

        page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(bad))
        page.get_by_text("Could not use").wait_for(timeout=60_000)
        assert_no_exception(page)
        assert page.get_by_text("A flow fitted to").count() == 1, "a bad upload must not cost the fitted model"
        page.screenshot(path=str(ARTIFACTS / "browser-points-bad-upload.png"), full_page=True)

        page.locator(".st-key-pts-open-layers button").click()  # the fitted model opens on Layer by layer
        page.get_by_role("heading", name="Layer by layer").first.wait_for(timeout=60_000)
        assert "/layers" in page.url
        assert_no_exception(page)


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
