"""One speaker trains, N followers watch the follow link: does following cost the speaker's training?

Starts ``streamlit run app.py`` on loopback. The speaker is a real Chromium page: it turns on "Let the room follow
this run", presses Play and trains alone for ``--alone`` seconds (its steps/s alone), then ``--followers`` light
clients (Streamlit's websocket protocol, as in ``bench/load.py``) open ``/?follow=<id>`` and watch for ``--seconds``.
Reported: the speaker's steps/s alone and with the followers (and the ratio), each follower's refreshes per second
(runs that showed new chart content), a late follower's time to first chart (a second Chromium context opened while
all the followers watch), and the server's RSS.

    python -m bench.followers --followers 50 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import threading
import time

from bench.load import WsSession, rss_of_tree
from tests.browser.harness import chromium, number_in, streamlit_server, wait_ready


class Follower(WsSession):
    """A light client on ``/?follow=<id>``: loads the page and reruns its timed fragment, nothing else."""

    def __init__(self, url: str, index: int, follow_id: str):
        super().__init__(url, index)
        self.query = f"follow={follow_id}"
        self.started: float | None = None

    async def _send(self, ws, widget_trigger: str | None = None, fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = self.query
        rerun.page_script_hash = self.page_hash
        if fragment_id:
            rerun.fragment_id = fragment_id
            rerun.is_auto_rerun = True
        await ws.send(msg.SerializeToString())

    async def _session(self, ws, seconds: float, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.started = time.monotonic()
        await self._send(ws)
        await self._until_finished(ws, 120)
        end = self.started + seconds
        while time.monotonic() < end:
            if self.fragment is None:
                await asyncio.sleep(0.2)
                continue
            fragment_id, interval = self.fragment
            await asyncio.sleep(interval)
            await self._send(ws, fragment_id=fragment_id)
            await self._until_finished(ws, 60)


def run_followers(url: str, follow_id: str, n: int, seconds: float, start_at: float) -> list[Follower]:
    clients = [Follower(url, i, follow_id) for i in range(n)]

    async def room():
        await asyncio.gather(*(c.run(seconds, start_at + 0.05 * i) for i, c in enumerate(clients)))

    asyncio.run(room())
    return clients


def speaker_rate(page, seconds: float) -> float:
    start_step, start = number_in(page, "step-count") or 0, time.monotonic()
    time.sleep(seconds)
    return ((number_in(page, "step-count") or 0) - start_step) / (time.monotonic() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--alone", type=float, default=20.0)
    args = parser.parse_args(argv)
    report: dict = {"followers": args.followers, "seconds": args.seconds, "load_average_before": os.getloadavg()[0]}
    with streamlit_server() as (url, proc), chromium() as browser:
        speaker = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        speaker.goto(url)
        wait_ready(speaker, timeout=120)
        speaker.locator("[data-testid=stExpander] summary").filter(has_text="Export and share").click()
        speaker.locator(".st-key-follow-on label").first.click()
        wait_ready(speaker)
        speaker.locator("[data-testid=stCode]").first.wait_for(timeout=30_000)
        follow_id = re.search(r"follow=([\w-]+)", speaker.locator("[data-testid=stCode]").first.inner_text()).group(1)
        speaker.locator(".st-key-play button").click()
        time.sleep(3)
        report["speaker_steps_per_s_alone"] = round(speaker_rate(speaker, args.alone), 1)

        results: dict = {}
        start_at = time.monotonic() + 1.0
        room = threading.Thread(
            target=lambda: results.update(clients=run_followers(url, follow_id, args.followers, args.seconds, start_at))
        )
        room.start()
        time.sleep(args.followers * 0.05 + 4)  # everyone connected
        rate_with = speaker_rate(speaker, max(5.0, args.seconds - args.followers * 0.05 - 10))
        late = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        t0 = time.monotonic()
        late.goto(f"{url}/?follow={follow_id}")
        late.wait_for_selector(".st-key-follow-density .js-plotly-plot .main-svg", timeout=120_000)
        report["late_follower_first_chart_s"] = round(time.monotonic() - t0, 2)
        report["server_rss_mb"] = round(rss_of_tree(proc.pid) / 2**20, 1)
        room.join()
        clients = results["clients"]
        report["speaker_steps_per_s_with_followers"] = round(rate_with, 1)
        report["speaker_ratio"] = round(rate_with / max(report["speaker_steps_per_s_alone"], 1e-9), 3)
        rates = [c.frames / args.seconds for c in clients]
        report["follower_refreshes_per_s"] = {
            "median": round(statistics.median(rates), 2),
            "min": round(min(rates), 2),
            "max": round(max(rates), 2),
        }
        report["follower_errors"] = sum(len(c.errors) for c in clients)
        report["followers_saw_steps"] = sum(1 for c in clients if len({s for _, s in c.step_log}) > 3)
        speaker.locator(".st-key-pause button").click()
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
