"""Real browser, presenter view: Space plays and pauses, → moves to the next scene, and a follow link opened in a
second browser context shows the speaker's step count advancing while the speaker trains. Screenshots at 1920×1080
and 1280×720 go to tests/artifacts/."""

from __future__ import annotations

import json
import re
import time

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


def wait_for(predicate, timeout: float = 30.0, every: float = 0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def press(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # keys go to the page
    page.keyboard.press(key)


# For each live chart: how many pixels its title reaches past the chart's right edge (<= 0: it fits).
TITLE_OVERFLOW = """
() => Object.fromEntries([...document.querySelectorAll('.realnvp-live-chart')].map((gd, i) => {
  const title = gd.querySelector('.gtitle');
  return [i, title ? Math.round(title.getBoundingClientRect().right - gd.getBoundingClientRect().right) : 999];
}))
"""


def test_keyboard_scenes_and_a_follower_in_the_presenter_view():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {}
    with streamlit_server() as (url, _), chromium() as browser:
        speaker = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        speaker.goto(f"{url}/?talk=1")
        wait_ready(speaker, timeout=120)
        speaker.wait_for_selector(".st-key-pg-density .js-plotly-plot", timeout=120_000)
        assert_no_exception(speaker)
        speaker.screenshot(path=str(ARTIFACTS / "talk-1920x1080-paused.png"))

        press(speaker, "ArrowRight")  # starts the script: scene 1
        assert wait_for(lambda: "(1/" in speaker.locator(".st-key-scene-caption").inner_text())
        press(speaker, "ArrowRight")  # scene 2: moons converge
        assert wait_for(lambda: "(2/" in speaker.locator(".st-key-scene-caption").inner_text())
        assert "sched=cosine" in speaker.url and "talk=1" in speaker.url
        wait_ready(speaker)

        press(speaker, " ")  # Space: play
        assert wait_for(lambda: (number_in(speaker, "step-count") or 0) > 50, timeout=60)
        assert_no_exception(speaker)

        speaker.locator("[data-testid=stSidebar] .st-key-follow-on label").first.click()
        link = wait_for(lambda: re.search(r"/\?follow=[\w-]+", speaker.locator("[data-testid=stSidebar]").inner_text()))
        assert link, "no follow link shown"
        follower = browser.new_context(viewport={"width": 390, "height": 844}).new_page()  # a phone
        follower.goto(f"{url}{link.group()}")
        assert wait_for(lambda: number_in(follower, "follow-step-count") is not None, timeout=60)
        first = number_in(follower, "follow-step-count")
        assert wait_for(lambda: (number_in(follower, "follow-step-count") or 0) > first, timeout=30)
        report["follower_steps"] = [first, number_in(follower, "follow-step-count")]
        assert follower.locator(".st-key-play, .st-key-pause, .st-key-reset").count() == 0  # read-only
        # every chart's title fits the phone's width (Plotly cuts a long title off at the chart's edge)
        assert wait_for(lambda: follower.locator(".realnvp-live-chart .gtitle").count() >= 3, timeout=60)
        overflow = follower.evaluate(TITLE_OVERFLOW)
        assert overflow and all(px <= 1 for px in overflow.values()), f"titles cut off on a phone (px): {overflow}"
        report["follower_title_overflow_px"] = overflow
        speaker.screenshot(path=str(ARTIFACTS / "talk-1920x1080-playing.png"))
        follower.screenshot(path=str(ARTIFACTS / "talk-follower-phone.png"), full_page=True)

        press(speaker, " ")  # Space: pause
        wait_ready(speaker)
        time.sleep(1.0)
        paused = number_in(speaker, "step-count")
        time.sleep(2.0)
        assert number_in(speaker, "step-count") == paused, "Space did not pause"
        report["paused_at"] = paused

        speaker.set_viewport_size({"width": 1280, "height": 720})
        speaker.locator("[data-testid=stSidebar] .st-key-talk-screen button", has_text="1280").first.click()
        wait_ready(speaker)
        time.sleep(1.5)
        speaker.screenshot(path=str(ARTIFACTS / "talk-1280x720.png"))
        assert_no_exception(speaker)
    (ARTIFACTS / "talk.json").write_text(json.dumps(report, indent=2))
