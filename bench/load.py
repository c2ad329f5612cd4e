"""A room full of browsers: N sessions press Play on the default preset at once, plus one late visitor.

Starts `streamlit run app.py` on 127.0.0.1 (loopback only) and opens N sessions that each press Play and train for a
fixed time, then prints per-session steps and chart refreshes, errors seen, the late visitor's time to first chart
(a real Chromium page) and the server's peak RSS. Bounded in count and time.

Sessions are either light clients speaking Streamlit's own websocket protocol (``--client ws``, the default: they
load the server exactly as browsers do — same messages, same timed fragment reruns — without 12 Chromium renderers
competing for the same 2 cores) or real Chromium contexts (``--client browser``).

    python -m bench.load --sessions 12 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from tests.browser.harness import ARTIFACTS, COUNT_REDRAWS, chromium, number_in, streamlit_server, wait_ready

ROOT = Path(__file__).resolve().parents[1]


def rss_of_tree(pid: int) -> int:
    """Resident memory (bytes) of a process and its children, from /proc."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class WsSession:
    """One Streamlit session driven over the websocket protocol, as the browser's frontend would."""

    def __init__(self, url: str, index: int):
        self.ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
        self.index = index
        self.page_hash = ""
        self.buttons: dict[str, str] = {}
        self.step = 0
        self.refreshes = 0
        self.waiting = False
        self.errors: list[str] = []
        self.fragment: tuple[str, float] | None = None
        self.last_figures: dict[str, str] = {}

    async def _send(self, ws, widget_trigger: str | None = None, fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = ""
        rerun.page_script_hash = self.page_hash
        if fragment_id:
            rerun.fragment_id = fragment_id
            rerun.is_auto_rerun = True
        if widget_trigger:
            state = rerun.widget_states.widgets.add()
            state.id = widget_trigger
            state.trigger_value = True
        await ws.send(msg.SerializeToString())

    def _read(self, raw: bytes) -> str:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        fm = ForwardMsg()
        fm.ParseFromString(raw)
        kind = fm.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = fm.new_session.page_script_hash
        elif kind == "auto_rerun":
            self.fragment = (fm.auto_rerun.fragment_id, fm.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            self.fragment = None
        elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
            el = fm.delta.new_element
            which = el.WhichOneof("type")
            if which == "button":
                self.buttons[el.button.id.rsplit("-", 1)[-1]] = el.button.id
            elif which == "metric" and el.metric.label == "Step":
                self.step = int(el.metric.body.replace(",", "") or 0)
            elif which == "plotly_chart":
                self.refreshes += 1
            elif which == "bidi_component" and el.bidi_component.component_name == "realnvp_live_chart":
                # the live charts: count a refresh when a chart's figure changed (what the browser redraws)
                if self.last_figures.get(el.bidi_component.id) != el.bidi_component.json:
                    self.last_figures[el.bidi_component.id] = el.bidi_component.json
                    self.refreshes += 1
            elif which == "exception":
                self.errors.append(f"session {self.index}: {el.exception.type}: {el.exception.message[:120]}")
            elif which == "alert" and "Waiting for a free training slot" in el.alert.body:
                self.waiting = True
        return kind

    async def run(self, seconds: float, start_at: float) -> None:
        import asyncio

        import websockets

        async with websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None) as ws:
            await self._send(ws)
            await self._until_finished(ws, 120)
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            await self._send(ws, widget_trigger=self.buttons.get("play"))
            await self._until_finished(ws, 120)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if self.fragment is None:
                    await asyncio.sleep(0.2)
                    continue
                fragment_id, interval = self.fragment
                await asyncio.sleep(interval)  # the frontend restarts its timer when a run finishes
                self.waiting = False
                await self._send(ws, fragment_id=fragment_id)
                await self._until_finished(ws, 60)
            await self._send(ws, widget_trigger=self.buttons.get("pause"))
            await self._until_finished(ws, 60)

    async def _until_finished(self, ws, timeout: float) -> None:
        import asyncio

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if self._read(raw) == "script_finished":
                return
        self.errors.append(f"session {self.index}: a script run did not finish within {timeout:.0f} s")


# What the late visitor waits for, in order: Streamlit's frontend running, the script's first numbers, a chart.
LATE_VISITOR_MILESTONES = (
    ("frontend", "[data-testid=stApp]"),
    ("first_numbers", ".st-key-step-count [data-testid=stMetricValue]"),
    ("first_chart", ".js-plotly-plot .main-svg"),
)


PLOTLY_FETCH_TIMING = """
() => performance.getEntriesByType('resource').filter((e) => e.name.includes('PlotlyChart'))
  .map((e) => [Math.round(e.startTime) / 1000, Math.round(e.responseEnd) / 1000])[0] || null
"""


def run_ws_room(url: str, sessions: int, seconds: float) -> list[WsSession]:
    import asyncio

    clients = [WsSession(url, i) for i in range(sessions)]

    async def room():
        start_at = time.monotonic() + 5.0  # everyone presses Play at about the same moment
        await asyncio.gather(*(c.run(seconds, start_at) for c in clients), return_exceptions=False)

    asyncio.run(room())
    return clients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--late-after", type=float, default=20.0, help="seconds after Play when the late visitor comes")
    parser.add_argument("--client", choices=("ws", "browser"), default="ws")
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 40))
    seconds = max(5.0, min(args.seconds, 600.0))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    peak_rss = [0]
    stop = threading.Event()
    report: dict = {"sessions": sessions, "seconds": seconds}
    with streamlit_server() as (url, proc), chromium() as browser:

        def watch_memory():
            while not stop.is_set():
                peak_rss[0] = max(peak_rss[0], rss_of_tree(proc.pid))
                time.sleep(0.5)

        threading.Thread(target=watch_memory, daemon=True).start()
        if args.client == "ws":
            late_box: dict = {}

            def late_visitor():
                time.sleep(5.0 + args.late_after)
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                start = time.perf_counter()
                try:
                    page.goto(url, timeout=60_000)
                    milestones = {}
                    for name, selector in LATE_VISITOR_MILESTONES:
                        page.wait_for_selector(selector, timeout=60_000)
                        milestones[name] = round(time.perf_counter() - start, 2)
                    late_box["s"] = time.perf_counter() - start
                    milestones["plotly_js_fetch"] = page.evaluate(PLOTLY_FETCH_TIMING)
                    late_box["milestones"] = milestones
                except Exception as err:
                    late_box["s"] = float("inf")
                    late_box["error"] = f"late visitor: no chart within 60 s ({type(err).__name__})"
                page.context.close()

            room = threading.Thread(target=lambda: late_box.setdefault("clients", run_ws_room(url, sessions, seconds)))
            room.start()
            late_visitor()  # Playwright's sync API stays on this thread
            room.join()
            clients = late_box["clients"]
            stop.set()
            errors = [e for c in clients for e in c.errors] + ([late_box["error"]] if "error" in late_box else [])
            rows = [
                {"session": c.index, "steps": c.step, "chart_refreshes": c.refreshes, "waiting_at_end": c.waiting}
                for c in clients
            ]
            report.update(
                client="ws",
                rows=rows,
                errors=errors,
                late_visitor_first_chart_s=late_box.get("s"),
                late_visitor_milestones_s=late_box.get("milestones"),
                server_peak_rss_mb=peak_rss[0] / 2**20,
                slowest_over_fastest=min(r["steps"] for r in rows) / max(max(r["steps"] for r in rows), 1),
            )
            return print_report(report)
        pages, errors = [], []
        for i in range(sessions):
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("pageerror", lambda e, i=i: errors.append(f"session {i}: {e}"))
            page.goto(url, timeout=120_000)
            pages.append(page)
        for page in pages:
            wait_ready(page, timeout=120)
            page.wait_for_selector(".st-key-play button", timeout=120_000)
        for page in pages:
            page.evaluate(COUNT_REDRAWS)
            page.locator(".st-key-play button").click()
        t0 = time.perf_counter()
        late = None
        while time.perf_counter() - t0 < seconds:
            if late is None and time.perf_counter() - t0 >= args.late_after:
                visitor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                start = time.perf_counter()
                try:
                    visitor.goto(url, timeout=60_000)
                    visitor.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
                    late = time.perf_counter() - start
                except Exception as err:  # report it; the measurement of the others goes on
                    late = float("inf")
                    errors.append(f"late visitor: no chart within 60 s ({type(err).__name__})")
                visitor.context.close()
            time.sleep(1.0)
        rows = []
        for i, page in enumerate(pages):
            steps = number_in(page, "step-count") or 0
            redraws = page.evaluate("() => window.__redraws")
            waiting = page.get_by_text("Waiting for a free training slot").count() > 0
            exceptions = page.locator("[data-testid=stException]").count()
            if exceptions:
                errors.append(f"session {i}: exception shown on the page")
            rows.append({"session": i, "steps": steps, "chart_refreshes": redraws, "waiting_at_end": waiting})
            page.locator(".st-key-pause button").click()
        stop.set()
        report.update(
            rows=rows,
            errors=errors,
            late_visitor_first_chart_s=late,
            server_peak_rss_mb=peak_rss[0] / 2**20,
            slowest_over_fastest=min(r["steps"] for r in rows) / max(max(r["steps"] for r in rows), 1),
        )
    return print_report(report)


def print_report(report: dict) -> int:
    print(f"{'session':>7s} {'steps':>7s} {'refreshes':>9s} {'waiting':>7s}")
    for r in report["rows"]:
        print(f"{r['session']:7d} {r['steps']:7.0f} {r['chart_refreshes']:9d} {r['waiting_at_end']!s:>7s}")
    print(
        f"errors: {len(report['errors'])}  late visitor first chart: {report['late_visitor_first_chart_s']:.1f} s  "
        f"server peak RSS: {report['server_peak_rss_mb']:.0f} MB  slowest/fastest steps: "
        f"{report['slowest_over_fastest']:.2f}"
    )
    if report.get("late_visitor_milestones_s"):
        print("late visitor milestones (s after navigating):", report["late_visitor_milestones_s"])
    (ARTIFACTS / "load-report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
