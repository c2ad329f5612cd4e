"""Real browser: Train live on the Image flows page — while playing the step count and the sample grid change,
and after Pause they stop. A screenshot goes to tests/artifacts/."""

from __future__ import annotations

import json
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


def samples_src(page) -> str | None:
    image = page.locator(".st-key-img-live-samples img")
    return image.first.get_attribute("src") if image.count() else None


def open_train_live(page, url: str) -> None:
    page.goto(f"{url}/images")
    wait_ready(page, timeout=120)
    page.locator(".st-key-img-mode button", has_text="Train live").first.click()
    page.wait_for_selector(".st-key-img-live-samples img", timeout=120_000)
    wait_ready(page, timeout=120)


def test_train_live_updates_while_playing_and_stops_when_paused():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        open_train_live(page, url)
        assert_no_exception(page)
        assert number_in(page, "img-live-step-count") == 0
        first_src = samples_src(page)
        page.locator(".st-key-img-live-play button").click()
        steps, sources = [], set()
        deadline = time.time() + 20
        while time.time() < deadline:
            time.sleep(0.5)
            steps.append(number_in(page, "img-live-step-count"))
            sources.add(samples_src(page))
        assert_no_exception(page)
        assert steps[-1] and steps[-1] > 20, steps
        assert len(set(steps)) >= 4, f"the step count did not keep moving: {steps}"
        assert len(sources - {first_src}) >= 3, "the sample grid did not change while playing"
        page.screenshot(path=str(ARTIFACTS / "image_train_live.png"))
        page.locator(".st-key-img-live-pause button").click()
        time.sleep(1.5)
        wait_ready(page)
        paused = number_in(page, "img-live-step-count")
        paused_src = samples_src(page)
        time.sleep(3)
        assert number_in(page, "img-live-step-count") == paused, "training went on after Pause"
        assert samples_src(page) == paused_src
        val = number_in(page, "img-live-val")
        assert val is not None and val < 4.0  # below log2(17) = 4.09 bits/dim: it learned something
        (ARTIFACTS / "image_train_live.json").write_text(
            json.dumps({"steps_seen": steps, "paused_at": paused, "val_bpd": val}, indent=2)
        )
