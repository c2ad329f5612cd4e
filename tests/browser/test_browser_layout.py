"""Real browser: the Playground on a phone (390×844) shows Play and a chart on its first screen, the controls under
the charts and the transport buttons two per line; /playground opens it too; on a 1920×1080 screen the controls
stay beside the charts.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

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

BOXES = """
() => {
  const box = (selector) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
  };
  const main = document.querySelector('[data-testid=stMain]');
  return {
    play: box('.st-key-play button'), pause: box('.st-key-pause button'), reset: box('.st-key-reset button'),
    chart: box('.realnvp-live-chart'), slider: box('.st-key-pg-layers'), step_number: box('.st-key-step-count'),
    scene_back: box('.st-key-scene-prev button'), scene_next: box('.st-key-scene-next button'),
    main_width: main.clientWidth, scroll_width: main.scrollWidth,
  };
}
"""


def boxes_at(browser, url: str, width: int, height: int, name: str) -> dict:
    phone = width < 600
    page = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone).new_page()
    page.goto(url)
    wait_ready(page, timeout=120)
    page.wait_for_selector(".st-key-pg-layers", timeout=60_000)
    page.wait_for_timeout(500)
    assert_no_exception(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}.png"))
    found = page.evaluate(BOXES)
    page.context.close()
    missing = [k for k, v in found.items() if v is None]
    assert not missing, f"not on the page at {width}×{height}: {missing}"
    return found


def test_a_phone_gets_play_and_a_chart_first_and_a_projector_keeps_the_controls_beside_them():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, _proc), chromium() as browser:
        phone = boxes_at(browser, url, 390, 844, "phone")
        assert phone["play"]["bottom"] < 844, f"Play is not on a phone's first screen: {phone['play']}"
        assert phone["chart"]["top"] < 844, f"no chart starts on a phone's first screen: {phone['chart']}"
        assert phone["slider"]["top"] > phone["chart"]["bottom"], "on a phone the controls come before the charts"
        assert abs(phone["play"]["top"] - phone["pause"]["top"]) < 2, "Play and Pause are not on one line"
        assert phone["reset"]["top"] > phone["play"]["bottom"], "four buttons squeezed into one phone line"
        assert abs(phone["scene_back"]["top"] - phone["scene_next"]["top"]) < 2, "the scene arrows left their line"
        assert phone["scroll_width"] <= phone["main_width"] + 1, "the phone page scrolls sideways"

        # the landing page lives at "/"; a typed or shared /playground opens it too, with the URL's settings
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(f"{url}/playground?layers=4")
        wait_ready(page, timeout=120)
        page.wait_for_selector(".st-key-pg-layers", timeout=60_000)
        assert page.get_by_text("Page not found").count() == 0, "/playground is not a page"
        shown = None
        for _ in range(100):  # the slider may be redrawn once more (the first paint's second run)
            shown = number_in(page, "pg-layers")
            if shown == 4:
                break
            page.wait_for_timeout(100)
        assert "layers=4" in page.url and shown == 4, f"/playground?layers=4 shows {shown} layers at {page.url}"
        page.context.close()

        wide = boxes_at(browser, url, 1920, 1080, "1920x1080")
        assert wide["slider"]["right"] <= wide["chart"]["left"], "the controls are not beside the charts"
        assert wide["slider"]["top"] < 1080 and wide["chart"]["top"] < 1080
        assert abs(wide["play"]["top"] - wide["reset"]["top"]) < 2, "the transport buttons left their line"
        assert wide["slider"]["right"] - wide["slider"]["left"] > 250, f"controls squeezed: {wide['slider']}"
