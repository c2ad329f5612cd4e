"""The Layer-by-layer page in Chromium: time from opening ``/layers`` on a fresh session to its first figure, and
the time a switch of the animation's direction (data → latent / latent → data) takes to show the new figure.

    python -m bench.layers_browser [--opens 3] [--switches 4] [--apptest]

Each open is a new browser context (a fresh Streamlit session) on one server; the first open also pays for the
server's imports, so it is reported apart. A switch is timed from the click until the chart shows the other
direction's first frame (its title) and until the script run has finished. ``--apptest`` also times a fresh
``AppTest`` run of the page. Timings on a shared machine are noisy: the report says how busy the machine was.
Not part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

from tests.browser.harness import chromium, streamlit_server, wait_ready

PAGE = Path(__file__).resolve().parents[1] / "pages" / "layers.py"
FIGURE = ".st-key-layers-animation .js-plotly-plot"
TITLE = (
    f"() => {{ const el = document.querySelector('{FIGURE}'); return el && el.layout ? el.layout.title.text : null; }}"
)
# button text -> what the chart's title shows once it draws that direction: the two-way figure prefixes every title
# with its direction; the older page (a Streamlit control per direction, one direction per figure) titles its first
# frame "latent z" or "data".
DIRECTIONS = {"sampling": ("latent → data", "latent z"), "density": ("data → latent", "data")}


def _shows(title: str, which: str) -> bool:
    text = re.sub(r"<[^>]+>", "", title or "")
    prefix, first_frame = DIRECTIONS[which]
    return text.startswith(prefix) or text == first_frame


def _wait_title(page, which: str, timeout: float = 120.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if _shows(page.evaluate(TITLE), which):
            return time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError(f"the animation never showed the {which} direction")


def direction_button(page, which: str):
    """The in-figure direction button (client-side switch) when the chart has one, else the page's Streamlit one."""
    in_figure = page.locator(".st-key-layers-animation .updatemenu-button").filter(has_text=which)
    if in_figure.count():
        return in_figure.first, "in the figure (browser only)"
    return page.locator(".st-key-layers-direction button").filter(has_text=which).first, "Streamlit control (rerun)"


def time_open(browser, url: str, viewport: dict) -> float:
    page = browser.new_context(viewport=viewport).new_page()
    t0 = time.perf_counter()
    page.goto(f"{url}/layers")
    page.wait_for_selector(f"{FIGURE} .main-svg", timeout=180_000)
    seconds = time.perf_counter() - t0
    page.context.close()
    return seconds


def time_switches(browser, url: str, viewport: dict, n: int) -> list[dict]:
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{url}/layers")
    page.wait_for_selector(f"{FIGURE} .main-svg", timeout=180_000)
    wait_ready(page, timeout=180)
    out = []
    for i in range(n):
        which = "sampling" if i % 2 == 0 else "density"
        button, how = direction_button(page, which)
        t0 = time.perf_counter()
        button.click()
        shown = _wait_title(page, which) - t0
        wait_ready(page, timeout=120)
        out.append(
            {"to": which, "via": how, "figure_s": round(shown, 3), "run_done_s": round(time.perf_counter() - t0, 3)}
        )
        print(json.dumps(out[-1]), flush=True)
        time.sleep(0.5)
    page.context.close()
    return out


def time_apptest() -> float:
    from streamlit.testing.v1 import AppTest

    t0 = time.perf_counter()
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    seconds = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--switches", type=int, default=4)
    parser.add_argument("--apptest", action="store_true")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args(argv)
    viewport = {"width": args.width, "height": args.height}
    report: dict = {"load_average_before": os.getloadavg()[0]}
    if args.apptest:
        report["apptest_fresh_open_s"] = [round(time_apptest(), 3) for _ in range(2)]
        print(json.dumps({"apptest_fresh_open_s": report["apptest_fresh_open_s"]}), flush=True)
    with streamlit_server() as (url, _), chromium() as browser:
        opens = [round(time_open(browser, url, viewport), 3) for _ in range(max(args.opens, 1))]
        report["open_first_s"], report["open_later_s"] = opens[0], opens[1:]
        if len(opens) > 1:
            report["open_later_median_s"] = statistics.median(opens[1:])
        print(json.dumps({"opens_s": opens}), flush=True)
        switches = time_switches(browser, url, viewport, args.switches)
        report["switches"] = switches
        report["switch_figure_median_s"] = statistics.median(s["figure_s"] for s in switches)
        report["switch_figure_after_first_median_s"] = (
            statistics.median(s["figure_s"] for s in switches[2:]) if len(switches) > 2 else None
        )
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
