"""Real browser: while plotly.js is still on its way, each live chart shows a canvas preview of its figure.

The test holds back the request for Streamlit's plotly.js chunk (as a busy server or a slow link would), checks that
the Playground's three charts show previews with the figure's content in them (the density's Viridis colours,
the points' markers, the ticks), then releases plotly.js and checks that Plotly's own charts replace the previews.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import ARTIFACTS, assert_no_exception, chromium, require_browser, streamlit_server

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
