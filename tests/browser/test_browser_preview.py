"""Real browser: while plotly.js is still on its way, each live chart shows a canvas preview of its figure.

The test holds back the request for Streamlit's plotly.js chunk (as a busy server or a slow link would), checks that
the Playground's three charts show previews with the figure's content in them (the density's Viridis colours,
the points' markers, the ticks), then releases plotly.js and checks that Plotly's own charts replace the previews.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import (
    ARTIFACTS,
    assert_no_exception,
    chromium,
    require_browser,
    streamlit_server,
    wait_ready,
)

pytestmark = pytest.mark.browser

# How many distinct colours each preview canvas shows, and whether a Viridis-like colour (the density) is among them.
READ_PREVIEWS = """
() => Array.from(document.querySelectorAll('.realnvp-live-chart')).map((gd) => {
  const canvas = gd.querySelector('canvas.realnvp-preview');
  if (!canvas || !canvas.width) return null;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let viridis = 0;
  for (let i = 0; i < pixels.length; i += 4 * 7) {
    const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    colours.add((r >> 3) * 1024 + (g >> 3) * 32 + (b >> 3));
    if (r < 90 && b > 80 && b > r) viridis += 1;  // the dark purple/blue end of Viridis
  }
  return { colours: colours.size, viridis, width: canvas.clientWidth, height: canvas.clientHeight };
})
"""


def test_charts_show_a_preview_until_plotly_arrives():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, _proc), chromium() as browser:
        page = browser.new_context(viewport={"width": 1600, "height": 1300}).new_page()
        held = []
        page.route("**/PlotlyChart.*.js", lambda route: held.append(route))
        page.goto(url)
        previews = None
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            previews = page.evaluate(READ_PREVIEWS)
            if len(previews) == 3 and all(previews):
                break
            page.wait_for_timeout(100)
        assert previews and len(previews) == 3 and all(previews), f"no preview on every chart: {previews}"
        # plotly.js is asked for once the controls are on screen (they come one run after the first paint)
        deadline = time.perf_counter() + 20
        while not held and time.perf_counter() < deadline:
            page.wait_for_timeout(100)
        assert held, "the page never asked for plotly.js"
        assert page.locator(".js-plotly-plot").count() == 0, "Plotly drew although plotly.js was held back"
        page.screenshot(path=str(ARTIFACTS / "preview-before-plotly.png"), full_page=True)
        density, samples, loss = previews
        assert density["viridis"] > 200, f"the density preview shows no heatmap: {density}"
        for name, preview in (("density", density), ("samples", samples), ("loss", loss)):
            assert preview["colours"] >= 3, f"the {name} preview is blank: {preview}"
            assert preview["width"] > 200 and preview["height"] > 200, f"the {name} preview has no size: {preview}"

        for route in held:
            route.continue_()
        page.unroute("**/PlotlyChart.*.js")
        page.wait_for_function(
            "() => document.querySelectorAll('.realnvp-live-chart.js-plotly-plot').length === 3", timeout=60_000
        )
        page.wait_for_function(
            "() => document.querySelectorAll('.realnvp-live-chart canvas.realnvp-preview').length === 0",
            timeout=10_000,
        )
        assert page.locator("[data-testid=stPlotlyChart]").count() == 0, "fell back to st.plotly_chart"
        assert_no_exception(page)
        page.screenshot(path=str(ARTIFACTS / "preview-after-plotly.png"), full_page=True)


# When each part of a first visit first appears, in the page's own clock (performance.now, as resource timing).
FIRST_VISIT_OBSERVER = """
(() => {
  const seen = window.__firstSeen = {};
  const wanted = {
    numbers: '.st-key-step-count [data-testid=stMetricValue]',
    chart: '.realnvp-live-chart canvas, .realnvp-live-chart .main-svg',  // its preview or Plotly's own chart
    placeholder: '[class*=st-key-realnvp-deferred-]',
    slider: '[data-testid=stSlider]',
  };
  new MutationObserver(() => {
    for (const [name, selector] of Object.entries(wanted)) {
      if (seen[name] === undefined && document.querySelector(selector)) {
        seen[name] = performance.now();
        if (name === 'numbers') seen.slidersWithTheNumbers = document.querySelectorAll(wanted.slider).length;
      }
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""


def test_a_first_visit_paints_the_charts_before_the_controls_and_plotly_after_them():
    """The first run holds the ~25 controls back (first_paint.py); the page asks for them once it has painted, and
    plotly.js is evaluated only after they are on screen, so neither of the two heavy parts delays the other."""
    require_browser()
    with streamlit_server() as (url, _proc), chromium() as browser:
        warm_up = browser.new_context().new_page()  # a fresh server's first run imports torch: seconds, not the test
        warm_up.goto(url)
        wait_ready(warm_up)
        warm_up.context.close()
        page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        page.add_init_script(FIRST_VISIT_OBSERVER)
        page.goto(url)
        page.wait_for_selector("[data-testid=stSlider]", timeout=60_000)
        page.wait_for_selector(".realnvp-live-chart.js-plotly-plot", timeout=60_000)
        seen = page.evaluate("() => window.__firstSeen")
        plotly_asked = page.evaluate(
            "() => (performance.getEntriesByType('resource').find((e) => e.name.includes('PlotlyChart')) || {})"
            ".startTime"
        )
        assert {"numbers", "chart", "placeholder", "slider"} <= set(seen), seen
        assert seen["slidersWithTheNumbers"] == 0, f"the controls came with the first numbers: {seen}"
        assert seen["placeholder"] <= seen["numbers"] < seen["slider"], seen
        assert seen["chart"] < seen["slider"], seen
        assert plotly_asked is not None and plotly_asked > seen["slider"], (
            f"plotly.js was fetched at {plotly_asked} ms, before the controls appeared: {seen}"
        )
        page.wait_for_selector("[class*=st-key-realnvp-deferred-]", state="detached", timeout=10_000)
        for label in ("Coupling layers", "Learning rate", "Noise"):
            assert page.get_by_text(label, exact=True).count() >= 1, f"no {label!r} control"
        page.get_by_role("button", name="Step").first.click()  # any later run keeps drawing them
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid=stSlider]").count() >= 3
        assert page.locator("[class*=st-key-realnvp-deferred-]").count() == 0
        assert_no_exception(page)
