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


LAYERS_FIGURE = ".st-key-layers-animation .js-plotly-plot"
FILL = """
() => {
  // How much of the plot the points fill: their 1-99 % span in pixels over the plot area's side, and tick font size.
  const el = document.querySelector('.st-key-layers-animation .js-plotly-plot');
  const fl = el._fullLayout, pts = el._fullData[1];
  const q = (v, p) => { const s = Array.from(v).filter(Number.isFinite).sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))]; };
  const span = (v, ax) => (q(v, 0.99) - q(v, 0.01)) / (ax.range[1] - ax.range[0]) * ax._length;
  const tick = document.querySelector('.st-key-layers-animation .xtick text');
  return {plot_px: [fl.xaxis._length, fl.yaxis._length], points_px: [span(pts.x, fl.xaxis), span(pts.y, fl.yaxis)],
          tick_px: parseFloat(getComputedStyle(tick).fontSize), tick_fill: getComputedStyle(tick).fill,
          title: fl.title.text};
}
"""


def _title(page) -> str:
    return page.evaluate(f"() => document.querySelector('{LAYERS_FIGURE}').layout.title.text")


def test_layers_page_animation_plays():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {}
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        page.goto(f"{url}/layers")  # opened directly, on a fresh session: a shipped flow, no training
        page.wait_for_selector(f"{LAYERS_FIGURE} .main-svg", timeout=120_000)
        wait_ready(page, timeout=120)
        assert_no_exception(page)
        assert "pretrained flow" in page.locator(".st-key-layers-source").inner_text()
        fill = page.evaluate(FILL)
        report["data_frame"] = fill
        assert fill["tick_px"] == 16 and fill["tick_fill"] == "rgb(38, 39, 48)"  # the Playground's type, dark
        assert min(fill["points_px"]) > 0.6 * min(fill["plot_px"])  # the points fill the plot
        page.screenshot(path=str(ARTIFACTS / "browser-layers-1920.png"))

        # the direction switches in the browser: no script run, the same chart element, the other direction drawn
        page.evaluate(f"() => {{ document.querySelector('{LAYERS_FIGURE}').__same = true; }}")
        page.locator(".st-key-layers-animation .updatemenu-button").filter(has_text="sampling").first.click()
        page.wait_for_function(
            f"() => document.querySelector('{LAYERS_FIGURE}').layout.title.text.includes('latent → data')",
            timeout=10_000,
        )
        assert page.evaluate(f"() => document.querySelector('{LAYERS_FIGURE}').__same === true")
        assert page.locator("[data-testid=stStatusWidget]").count() == 0
        report["latent_frame"] = page.evaluate(FILL)
        assert page.evaluate(FRAME_TIMER)
        page.evaluate(
            f"() => document.querySelector('{LAYERS_FIGURE}')"
            ".on('plotly_animatingframe', (e) => (window.__names = (window.__names || []).concat([e.name])))"
        )
        page.locator(".st-key-layers-animation .updatemenu-button").filter(has_text="Play").first.click()
        time.sleep(4)
        frames = page.evaluate("() => window.__frames")
        names = page.evaluate("() => window.__names || []")
        assert len(frames) >= 5, f"the animation did not play ({len(frames)} frames)"
        assert all(n.startswith("inverse:") for n in names), names[:5]  # it plays the direction on show
        report["animation_frames_seen"] = len(frames)
        report["median_frame_ms"] = float(np.median(np.diff(frames)))
        page.locator(".st-key-layers-animation .updatemenu-button").filter(has_text="density").first.click()
        page.wait_for_function(
            f"() => document.querySelector('{LAYERS_FIGURE}').layout.title.text.startsWith('data → latent')",
            timeout=10_000,
        )
        page.screenshot(path=str(ARTIFACTS / "browser-layers.png"), full_page=True)
        small = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        small.goto(f"{url}/layers")
        small.wait_for_selector(f"{LAYERS_FIGURE} .main-svg", timeout=120_000)
        wait_ready(small, timeout=120)
        assert_no_exception(small)
        report["data_frame_1280"] = small.evaluate(FILL)
        small.screenshot(path=str(ARTIFACTS / "browser-layers-1280.png"))
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
