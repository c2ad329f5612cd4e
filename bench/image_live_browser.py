"""Train live on the Image flows page, in Chromium: validation bits/dim at 30, 60 and 120 s of wall time after
Play, steps, and how often the sample grid refreshes (changes of the grid image per second).

    python -m bench.image_live_browser [--seconds 120] [--marks 30 60 120] [--conditional]

Timings on a shared machine are noisy: the report says how busy the machine was (load average) next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from tests.browser.harness import chromium, number_in, streamlit_server, wait_ready
from tests.browser.test_browser_images import open_train_live, samples_src


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", type=float, nargs="+", default=[30, 60, 120])
    parser.add_argument("--conditional", action="store_true")
    args = parser.parse_args(argv)
    report: dict = {"load_average_before": os.getloadavg()[0], "marks": []}
    with streamlit_server() as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        open_train_live(page, url)
        if args.conditional:
            page.locator(".st-key-img-live-conditional label").first.click()
            time.sleep(2)
            wait_ready(page)
        page.locator(".st-key-img-live-play button").click()
        started = time.monotonic()
        changes, last_src = 0, samples_src(page)
        marks = list(args.marks)
        while marks:
            time.sleep(0.1)
            src = samples_src(page)
            if src != last_src:
                changes, last_src = changes + 1, src
            elapsed = time.monotonic() - started
            if elapsed >= marks[0]:
                report["marks"].append(
                    {
                        "seconds": marks.pop(0),
                        "step": number_in(page, "img-live-step-count"),
                        "val_bpd": number_in(page, "img-live-val"),
                        "grid_refreshes_per_s": round(changes / elapsed, 2),
                    }
                )
                print(json.dumps(report["marks"][-1]), flush=True)
        page.locator(".st-key-img-live-pause button").click()
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
