"""Real browser: the Race page at /race with two contestants (a preset link) and four (a custom link): every
contestant's chart draws, Play advances them all, Pause stops them all, and the URL keeps the race.
Full-page screenshots (a 1920×1080 window) go to tests/artifacts/: race-before.png, race-during.png, race-after.png."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from playground.settings import Settings
from playground.views.race import RaceConfig, to_query
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

FOUR = RaceConfig(
    dataset="moons",
    noise=0.1,
    n_points=2000,
    seed=0,
    contestants=(
        Settings(n_layers=4),
        Settings(n_layers=2),
        Settings(coupling="additive", n_layers=4),
        Settings(coupling="spline", n_layers=2),
    ),
)


def steps(page, n: int) -> list[float]:
    return [number_in(page, f"race-steps-{i}") or 0.0 for i in range(n)]


def run_race(page, url: str, n: int, shots: str | None = None, seconds: float = 8.0) -> dict:
    page.goto(url)
    wait_ready(page, timeout=120)
    # n densities and the NLL chart, drawn by the live chart component
    page.wait_for_function(
        f"() => document.querySelectorAll('.realnvp-live-chart .main-svg').length >= {n + 1}", timeout=120_000
    )
    assert_no_exception(page)
    assert steps(page, n) == [0.0] * n
    if shots:
        page.screenshot(path=str(ARTIFACTS / f"{shots}-before.png"), full_page=True)
    page.locator(".st-key-race-play button").click()
    deadline = time.time() + 90
    while time.time() < deadline and min(steps(page, n)) == 0:
        time.sleep(0.5)
    first = steps(page, n)
    time.sleep(seconds)
    second = steps(page, n)
    if shots:
        page.screenshot(path=str(ARTIFACTS / f"{shots}-during.png"), full_page=True)
    assert all(b > a for a, b in zip(first, second, strict=True)), (first, second)  # every contestant advances
    page.locator(".st-key-race-pause button").click()
    page.get_by_text("paused").first.wait_for(timeout=30_000)
    wait_ready(page, timeout=60)
    time.sleep(1.0)
    paused = steps(page, n)
    time.sleep(2.0)
    assert steps(page, n) == paused  # Pause stopped all of them
    assert_no_exception(page)
    if shots:
        page.screenshot(path=str(ARTIFACTS / f"{shots}-after.png"), full_page=True)
    return {"steps_after_play": paused, "url": page.url}


def test_race_page_with_two_and_four_contestants():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {}
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        two = run_race(page, f"{url}/race?race=spline-checkerboard", 2, shots="race")
        assert "race=spline-checkerboard" in two["url"]
        report["two"] = two
        four = run_race(page, f"{url}/race?{urlencode(to_query(FOUR))}", 4, seconds=10.0)
        assert "race=custom" in four["url"] and "c4=" in four["url"]
        report["four"] = four
    print("\nRACE BROWSER REPORT " + json.dumps(report))
