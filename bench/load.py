"""A room full of browsers: N sessions press Play on the default preset at once, plus one late visitor.

Starts `streamlit run app.py` on 127.0.0.1 (loopback only) and opens N sessions that each press Play and train for a
fixed time, then prints per-session steps and chart refreshes, errors seen, the late visitor's time to first chart
(a real Chromium page) and the server's peak RSS. Bounded in count and time.

Sessions are either light clients speaking Streamlit's own websocket protocol (``--client ws``, the default: they
load the server exactly as browsers do — same messages, same timed fragment reruns — without 12 Chromium renderers
competing for the same 2 cores) or real Chromium contexts (``--client browser``).

With ``--replicas R`` the room goes through ``deploy/local.sh R`` (R replicas behind nginx, loopback): every session
gets its own affinity cookie on a first visit, as a browser would, and the report says how the sessions split between
replicas; ``--kill-after S`` stops one replica S seconds after Play and reports what its sessions and the others saw.

Every run reports the room's quality: a session meets it when it averaged at least ``--min-steps`` training steps
per second and ``--min-refreshes`` page refreshes per second (runs that showed new chart content; in browser mode,
the busiest chart's redraws) over the whole run, time spent queued for a training slot included; "sessions per
core" is the number that met it over the machine's cores. ``--baseline S`` first measures one session alone for
S seconds on the same server(s), for the total-throughput ratio.

    python -m bench.load --sessions 12 --seconds 60
    python -m bench.load --sessions 24 --seconds 40 --replicas 2 --kill-after 25
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.browser.harness import ARTIFACTS, COUNT_REDRAWS, chromiums, number_in, streamlit_server, wait_ready

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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_group() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process on the machine, grouped by what it is: the
    Streamlit server(s), training workers, Chromium (renderers, GPU/compositor, the rest), this benchmark, other."""
    groups: dict[str, float] = collections.defaultdict(float)
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        seconds = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS  # utime, stime
        if b"chromium" in cmdline or b"chrome" in cmdline:
            kind = b"--type=renderer" in cmdline and "renderer" or b"--type=gpu" in cmdline and "gpu" or "rest"
            group = f"chromium {kind}"
        elif b"playground.serving.workers" in cmdline:
            group = "training workers"
        elif b"streamlit" in cmdline:
            group = "streamlit server"
        elif int(proc.name) == me:
            group = "benchmark (clients)"
        elif b"nginx" in cmdline:
            group = "nginx"
        else:
            group = "other"
        groups[group] += seconds
    return dict(groups)


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores each group kept busy on average between two :func:`cpu_by_group` readings (gone processes drop out)."""
    return {k: round(max(0.0, after[k] - before.get(k, 0.0)) / seconds, 2) for k in sorted(after)}


class WsSession:
    """One Streamlit session driven over the websocket protocol, as the browser's frontend would."""

    def __init__(self, url: str, index: int, cookies: dict[str, str] | None = None):
        self.ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
        self.index = index
        self.cookies = dict(cookies or {})  # e.g. the proxy's affinity cookie
        self.replica: str | None = None  # which replica answered (nginx's X-Replica header), behind the proxy
        self.step_log: list[tuple[float, int]] = []  # (monotonic time, step shown), one entry per step metric
        self.disconnected_at: float | None = None  # when the server went away mid-run
        self.played_at: float | None = None
        self.first_run_s: float | None = None
        self.until: float | None = None  # set while running: end the run at this monotonic time instead
        self.page_hash = ""
        self.buttons: dict[str, str] = {}
        self.step = 0
        self.refreshes = 0  # chart redraws with new content (each of the page's charts counts)
        self.frames = 0  # script or fragment runs that showed new chart content: what a visitor sees refresh
        self._changed = False
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
                self.step_log.append((time.monotonic(), self.step))
            elif which == "plotly_chart":
                self.refreshes += 1
            elif which == "bidi_component" and el.bidi_component.component_name == "realnvp_live_chart":
                # the live charts: count a refresh when a chart's figure changed (what the browser redraws)
                if self.last_figures.get(el.bidi_component.id) != el.bidi_component.json:
                    self.last_figures[el.bidi_component.id] = el.bidi_component.json
                    self.refreshes += 1
                    self._changed = True
            elif which == "exception":
                self.errors.append(f"session {self.index}: {el.exception.type}: {el.exception.message[:120]}")
            elif which == "alert" and "Waiting for a free training slot" in el.alert.body:
                self.waiting = True
        return kind

    async def run(self, seconds: float, start_at: float) -> None:
        """Load the page, press Play at ``start_at``, train ``seconds``, press Pause; a lost server ends the run."""
        import websockets

        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else None
        try:
            async with websockets.connect(
                self.ws_url, subprotocols=["streamlit"], max_size=None, additional_headers=headers, proxy=None
            ) as ws:
                self.replica = ws.response.headers.get("X-Replica")
                await self._session(ws, seconds, start_at)
        except (websockets.ConnectionClosed, OSError) as err:
            self.disconnected_at = time.monotonic()
            self.errors.append(f"session {self.index}: connection lost ({type(err).__name__})")

    async def _session(self, ws, seconds: float, start_at: float) -> None:
        import asyncio

        started = time.monotonic()
        await self._send(ws)
        await self._until_finished(ws, 120)
        self.first_run_s = time.monotonic() - started  # the server's part of a first page: the script's first run
        if seconds <= 0 and start_at <= 0:
            return  # a page load only
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        await self._send(ws, widget_trigger=self.buttons.get("play"))
        self.played_at = time.monotonic()
        await self._until_finished(ws, 120)
        end = self.played_at + seconds
        while time.monotonic() < (self.until or end):
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
                self.frames += self._changed
                self._changed = False
                return
        self.errors.append(f"session {self.index}: a script run did not finish within {timeout:.0f} s")


# What the late visitor waits for, in order: Streamlit's frontend running, the script's first numbers, the chart's
# element, its first picture (the canvas preview drawn before plotly.js is there, or Plotly's chart), Plotly's chart.
LATE_VISITOR_MILESTONES = (
    ("frontend", "[data-testid=stApp]"),
    ("first_numbers", ".st-key-step-count [data-testid=stMetricValue]"),
    ("chart_mounted", ".realnvp-live-chart"),
    ("first_picture", "canvas.realnvp-preview, .js-plotly-plot .main-svg"),  # the preview or Plotly's chart
    ("first_chart", ".js-plotly-plot .main-svg"),
)


# Installed before the page's own scripts: the moment each milestone's element first appears in the DOM and the
# animation frame that paints it, in seconds after navigation started, taken in the page itself. (Playwright's own
# wait_for_selector polls from outside and is answered late whenever the page's main thread is busy, e.g. evaluating
# plotly.js just after it painted the first numbers.) Long tasks (> 50 ms of main thread) are kept too.
MILESTONE_OBSERVER = """
(() => {
  const wanted = %s;
  const seen = window.__milestones = {};
  const longTasks = window.__longTasks = [];
  try {
    new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push([e.startTime, e.duration])))
      .observe({ type: 'longtask', buffered: true });
  } catch (err) { /* no long-task timing in this browser */ }
  const check = () => {
    for (const [name, selector] of wanted) {
      if (seen[name] || !document.querySelector(selector)) continue;
      seen[name] = {};  // in the DOM now; painted by the next animation frame
      requestAnimationFrame(() => { seen[name].painted = performance.now() / 1000; });
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
})();
"""
LONG_TASKS_BEFORE = """
(t) => {
  const tasks = (window.__longTasks || []).filter(([start]) => start / 1000 < t);
  return [tasks.length, Math.round(tasks.reduce((a, [, d]) => a + d, 0)) / 1000,
          Math.round(Math.max(0, ...tasks.map(([, d]) => d))) / 1000];
}
"""

PLOTLY_FETCH_TIMING = """
() => performance.getEntriesByType('resource').filter((e) => e.name.includes('PlotlyChart'))
  .map((e) => [Math.round(e.startTime) / 1000, Math.round(e.responseEnd) / 1000])[0] || null
"""
# The page's slowest requests: [file, started, finished] in seconds after navigation started.
SLOWEST_FETCHES = """
() => performance.getEntriesByType('resource').sort((a, b) => b.responseEnd - a.responseEnd).slice(0, 5)
  .map((e) => [e.name.split('/').pop().slice(0, 40), Math.round(e.startTime) / 1000, Math.round(e.responseEnd) / 1000])
"""


def run_ws_room(
    url: str, sessions: int, seconds: float, cookies: list[dict] | None = None, start_at: float | None = None
) -> list[WsSession]:
    """``sessions`` light clients press Play together (at ``start_at``, default in 5 s) and train ``seconds``."""
    import asyncio

    clients = [WsSession(url, i, (cookies or [None] * sessions)[i]) for i in range(sessions)]

    async def room():
        at = start_at if start_at is not None else time.monotonic() + 5.0
        await asyncio.gather(*(c.run(seconds, at) for c in clients), return_exceptions=False)

    asyncio.run(room())
    return clients


def steps_at(client: WsSession, moment: float) -> int:
    """The last step count ``client`` was shown at or before ``moment`` (0 before any)."""
    return max((step for t, step in client.step_log if t <= moment), default=0)


# -- replicas behind nginx (deploy/local.sh) ---------------------------------------------------------------------------

ROUTE_COOKIE = "realnvp_route"  # deploy/nginx.conf.in: the affinity cookie nginx sets on a first visit
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through an HTTP proxy


def http_get(url: str, cookies: dict[str, str] | None = None, timeout: float = 10.0):
    """GET ``url`` (loopback, no proxy); returns the response (read it, then close it)."""
    request = urllib.request.Request(url)
    if cookies:
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    return _DIRECT.open(request, timeout=timeout)


def first_visit(proxy_url: str) -> tuple[str, str]:
    """A browser's first visit through the proxy: the affinity cookie nginx sets, and the replica that answered."""
    with http_get(proxy_url + "/_stcore/health") as response:
        response.read()
        route = next(
            c.split(";")[0].split("=", 1)[1]
            for c in response.headers.get_all("Set-Cookie") or []
            if c.startswith(ROUTE_COOKIE + "=")
        )
        return route, served_by(response)


def served_by(response) -> str:
    """The replica that finally answered (nginx lists every one it tried in X-Replica)."""
    return (response.headers.get("X-Replica") or "").split(",")[-1].strip()


def replica_for(proxy_url: str, route: str) -> str:
    """Which replica the proxy sends a browser carrying the affinity cookie ``route`` to."""
    with http_get(proxy_url + "/_stcore/health", {ROUTE_COOKIE: route}) as response:
        response.read()
        return served_by(response)


def routes_by_replica(proxy_url: str, replicas: list[str], each: int = 1) -> dict[str, list[str]]:
    """``each`` affinity cookies per replica, from first visits (nginx hands out random ones)."""
    routes: dict[str, list[str]] = {r: [] for r in replicas}
    for _ in range(200 * each * len(replicas)):
        route, replica = first_visit(proxy_url)
        if replica in routes and len(routes[replica]) < each:
            routes[replica].append(route)
        if all(len(v) == each for v in routes.values()):
            return routes
    raise RuntimeError(f"first visits did not reach every replica {each} times: {routes}")


class Deployment:
    """What ``deploy/local.sh N`` started: the proxy's URL, each replica's URL and PID, nginx's PID."""

    def __init__(self, proxy_url: str, replica_urls: list[str], state_dir: Path):
        self.proxy_url = proxy_url
        self.replica_urls = replica_urls
        self.state_dir = state_dir
        self.pids: dict[str, int] = {}  # "127.0.0.1:PORT" (as X-Replica names it) or "nginx" -> PID
        for line in (state_dir / "pids").read_text().split("\n"):
            if line.strip():
                kind, port, pid = line.split()
                self.pids["nginx" if kind == "nginx" else f"127.0.0.1:{port}"] = int(pid)
        self.replicas = [u.removeprefix("http://") for u in replica_urls]
        self.started_pids = list(self.pids.values())

    def kill(self, replica: str) -> None:
        """Stop a replica at once (SIGKILL, as a crash or a lost machine would)."""
        os.kill(self.pids[replica], signal.SIGKILL)

    def alive(self) -> list[int]:
        """PIDs that local.sh started and that are still running (ours: streamlit or nginx)."""
        left = []
        for pid in self.started_pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state != "Z" and (b"streamlit" in cmdline or b"nginx" in cmdline):
                left.append(pid)
        return left


@contextlib.contextmanager
def local_deploy(replicas: int, state_dir: Path, env: dict[str, str] | None = None, timeout: float = 240.0):
    """Run ``deploy/local.sh replicas`` with its state in ``state_dir``; yield a :class:`Deployment`.

    Stopped on the way out, whatever happened: Ctrl-C (SIGINT) to local.sh, then ``local.sh stop`` (a no-op when
    everything is gone already), then SIGKILL to any PID it started that is still running.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "REALNVP_LOCAL_STATE": str(state_dir), "PYTHON": sys.executable, **(env or {})}
    log = open(state_dir / "local.sh.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "local.sh"), str(replicas)],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in proc.stdout], daemon=True).start()
    deployment = None
    try:
        urls = []
        deadline = time.monotonic() + timeout
        while len(urls) < replicas + 1:
            try:
                urls.append(lines.get(timeout=max(0.1, min(1.0, deadline - time.monotonic()))))
            except queue.Empty:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        f"deploy/local.sh {replicas} did not start: {(state_dir / 'local.sh.log').read_text()[-2000:]}"
                    ) from None
        deployment = Deployment(urls[0], urls[1:], state_dir)
        yield deployment
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
        subprocess.run(["bash", str(ROOT / "deploy" / "local.sh"), "stop"], env=full_env, timeout=60, check=False)
        if deployment is not None:
            for pid in deployment.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log.close()


# -- the benchmark -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(replicas: int, env: dict[str, str]):
    """One plain server (replicas == 0) or ``replicas`` behind nginx; yields (url, deployment or None, pids)."""
    if replicas == 0:
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with streamlit_server() as (url, proc):
                yield url, None, [proc.pid]
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="realnvp-load-") as folder:
        try:
            with local_deploy(replicas, Path(folder), env) as deployment:
                yield deployment.proxy_url, deployment, [deployment.pids[r] for r in deployment.replicas]
        finally:
            with contextlib.suppress(OSError):  # keep the proxy's log for the report
                (ARTIFACTS / "load-nginx.log").write_text((Path(folder) / "nginx.log").read_text())


def parse_cpus(text: str) -> set[int]:
    """A taskset-style CPU list ("0", "0,2", "0-3") as a set."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


STEP_LOG = ARTIFACTS / "load-steps.jsonl"  # the server(s) append every training chunk's step here (REALNVP_STEP_LOG)


def server_steps(since: float, until: float, log: Path = STEP_LOG) -> dict[str, int]:
    """Steps each session trained between two wall-clock times, as the server(s) logged them: the truth, where a
    browser starved of CPU shows a step count from seconds ago."""
    at_start: dict[str, int] = {}
    at_end: dict[str, int] = {}
    with contextlib.suppress(OSError), open(log) as lines:
        for line in lines:
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(line)
                if entry["t"] <= since:
                    at_start[entry["slot"]] = entry["step"]
                if entry["t"] <= until:
                    at_end[entry["slot"]] = entry["step"]
    return {slot: step - at_start.get(slot, 0) for slot, step in at_end.items() if step > at_start.get(slot, 0)}


def late_visit(browser, url: str) -> dict:
    """A real Chromium page's first visit: seconds to each milestone, or an error."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.add_init_script(MILESTONE_OBSERVER % json.dumps([list(m) for m in LATE_VISITOR_MILESTONES]))
    start = time.perf_counter()
    out: dict = {}
    milestones: dict = {}
    failed: list[str] = []  # requests that failed or answered >= 400 (the off-line icon font is left out)
    page.on("requestfailed", lambda r: "fonts.g" not in r.url and failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url}: HTTP {r.status}"))
    frames: list[tuple[float, int]] = []  # (seconds, bytes) of each websocket message the page received

    def on_websocket(ws):
        milestones.setdefault("websocket_open", round(time.perf_counter() - start, 2))
        ws.on("framereceived", lambda payload: frames.append((time.perf_counter() - start, len(payload))))

    page.on("websocket", on_websocket)
    try:
        response = page.goto(url, timeout=60_000)
        out["replica"] = response.headers.get("x-replica") if response else None
        polled = {}
        for name, selector in LATE_VISITOR_MILESTONES:
            page.wait_for_selector(selector, timeout=60_000)
            polled[name] = round(time.perf_counter() - start, 2)
        page.wait_for_function("() => window.__milestones.first_chart && window.__milestones.first_chart.painted")
        in_page = page.evaluate("() => window.__milestones")
        for name, _ in LATE_VISITOR_MILESTONES:  # painted, as the page itself timed it
            milestones[name] = round(in_page[name]["painted"], 2)
        milestones["seen_by_playwright"] = polled
        milestones["long_tasks_before_first_numbers"] = page.evaluate(LONG_TASKS_BEFORE, milestones["first_numbers"])
        out["s"] = milestones["first_chart"]
        milestones["plotly_js_fetch"] = page.evaluate(PLOTLY_FETCH_TIMING)
        milestones["last_fetches"] = page.evaluate(SLOWEST_FETCHES)
        # when the server's messages came: the first one, and the one that completed the data of the first numbers
        # (the browser's own rendering is the rest of the wait)
        if frames:
            before = [f for f in frames if f[0] <= milestones["first_numbers"]]
            milestones["first_message"] = round(frames[0][0], 2)
            milestones["messages_before_first_numbers"] = [len(before), sum(b for _, b in before)]
            milestones["last_message_before_first_numbers"] = round(before[-1][0], 2) if before else None
        out["milestones"] = milestones
    except Exception as err:
        out["s"] = float("inf")
        out["error"] = f"late visitor: no chart within 60 s ({type(err).__name__}; reached {milestones})"
        page.screenshot(path=str(ARTIFACTS / "load-late-visitor-failed.png"), full_page=True)
    out["failed_requests"] = failed
    page.context.close()
    return out


def quality_rows(clients: list[WsSession], seconds: float, min_steps: float, min_refreshes: float) -> list[dict]:
    rows = []
    for c in clients:
        steps_per_s = c.step / seconds
        refreshes_per_s = c.frames / seconds  # page refreshes with new content
        rows.append(
            {
                "session": c.index,
                "replica": c.replica,
                "steps": c.step,
                "steps_per_s": round(steps_per_s, 1),
                "chart_refreshes": c.refreshes,
                "frames": c.frames,
                "refreshes_per_s": round(refreshes_per_s, 2),
                "waiting_at_end": c.waiting,
                "meets_quality": steps_per_s >= min_steps and refreshes_per_s >= min_refreshes,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--late-after", type=float, default=20.0, help="seconds after Play when the late visitor comes")
    parser.add_argument("--client", choices=("ws", "browser"), default="ws")
    parser.add_argument("--replicas", type=int, default=0, help="0: one server; R: R replicas behind nginx")
    parser.add_argument("--kill-after", type=float, default=None, help="stop one replica this many s after Play")
    parser.add_argument("--baseline", type=float, default=0.0, help="first, one session alone for this many s")
    parser.add_argument("--min-steps", type=float, default=20.0, help="quality: steps/s each session averages")
    parser.add_argument("--min-refreshes", type=float, default=2.0, help="quality: chart refreshes/s each")
    parser.add_argument("--slots", type=int, default=None, help="REALNVP_TRAINING_SLOTS for the server(s)")
    parser.add_argument(
        "--processes", type=int, default=None, help="REALNVP_TRAINING_PROCESSES for the server(s) (0: threads)"
    )
    parser.add_argument("--no-late-visitor", action="store_true")
    parser.add_argument(
        "--room-nice",
        type=int,
        default=0,
        help="browser mode: run the room's Chromium at this nice (19: the visitors' browsers would be on their own "
        "machines, so they get only the CPU the server leaves); the late visitor's stays at 0",
    )
    parser.add_argument(
        "--server-cpus",
        default=None,
        help="pin the server(s) and their training workers to these CPUs (taskset list, e.g. 0), and every browser "
        "to the others: the server gets its cores to itself, as it would with the visitors on their own machines",
    )
    parser.add_argument(
        "--balanced", action="store_true", help="behind the proxy: sessions split evenly (not by the cookie's luck)"
    )
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 40))
    seconds = max(5.0, min(args.seconds, 600.0))
    replicas = max(0, min(args.replicas, 8))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"REALNVP_TRAINING_SLOTS": str(args.slots)} if args.slots else {}
    if args.processes is not None:
        env["REALNVP_TRAINING_PROCESSES"] = str(args.processes)
    env["REALNVP_STEP_LOG"] = str(STEP_LOG)
    STEP_LOG.unlink(missing_ok=True)
    cores = os.cpu_count() or 1

    peak_rss = [0]
    stop = threading.Event()
    report: dict = {
        "sessions": sessions,
        "seconds": seconds,
        "replicas": replicas,
        "cores": cores,
        "load_average_at_start": os.getloadavg(),
        "quality": {"min_steps_per_s": args.min_steps, "min_refreshes_per_s": args.min_refreshes},
        "room_browsers_nice": args.room_nice if args.client == "browser" else None,
        "training_processes": env.get("REALNVP_TRAINING_PROCESSES", os.environ.get("REALNVP_TRAINING_PROCESSES")),
    }
    nices = (0, args.room_nice) if args.client == "browser" and args.room_nice else (0,)
    every_cpu = os.sched_getaffinity(0)
    server_cpus = parse_cpus(args.server_cpus) if args.server_cpus else every_cpu
    browser_cpus = (every_cpu - server_cpus) or every_cpu
    if args.server_cpus:
        report.update(server_cpus=sorted(server_cpus), browser_cpus=sorted(browser_cpus), cores=len(server_cpus))
    os.sched_setaffinity(0, server_cpus)  # what the server(s) start from here inherit it, workers included
    with (
        serving(replicas, env) as (url, deployment, pids),
        chromiums(*nices, cpus=",".join(map(str, sorted(browser_cpus))) if args.server_cpus else None) as browsers,
    ):
        os.sched_setaffinity(0, browser_cpus)  # the benchmark's own clients stay off the server's cores
        browser, room_browser = browsers[0], browsers[-1]

        def watch_memory():
            while not stop.is_set():
                peak_rss[0] = max(peak_rss[0], sum(rss_of_tree(p) for p in pids))
                time.sleep(0.5)

        threading.Thread(target=watch_memory, daemon=True).start()

        def cookies_for(n: int) -> list[dict] | None:
            """Each session's first visit: nginx's affinity cookie (``--balanced``: kept only in replica turn)."""
            if deployment is None:
                return None
            if not args.balanced:
                return [{ROUTE_COOKIE: first_visit(url)[0]} for _ in range(n)]
            k = len(deployment.replicas)
            routes = routes_by_replica(url, deployment.replicas, each=-(-n // k))
            return [{ROUTE_COOKIE: routes[deployment.replicas[i % k]][i // k]} for i in range(n)]

        # warm up: one page load (and Play/Pause) per server, so first imports don't count against the room
        warm = None
        if deployment is not None:
            warm = [{ROUTE_COOKIE: routes[0]} for routes in routes_by_replica(url, deployment.replicas).values()]
        warm_thread = threading.Thread(
            target=lambda: run_ws_room(url, len(warm or [None]), 0.0, warm, time.monotonic())
        )
        warm_thread.start()
        warm_thread.join()
        if args.baseline > 0:
            box1: dict = {}  # asyncio on a thread of its own: Playwright's sync API holds this thread's loop
            cookies1 = cookies_for(1)
            baseline = threading.Thread(
                target=lambda: box1.setdefault("c", run_ws_room(url, 1, args.baseline, cookies1))
            )
            baseline.start()
            baseline.join()
            alone = box1["c"][0]
            report["baseline_one_session_steps_per_s"] = round(alone.step / args.baseline, 1)
            report["baseline_one_session_refreshes_per_s"] = round(alone.frames / args.baseline, 2)
        if args.client == "ws":
            box: dict = {}
            start_at = time.monotonic() + 5.0  # everyone presses Play at about the same moment
            room_cookies = cookies_for(sessions)

            def room():
                box["clients"] = run_ws_room(url, sessions, seconds, room_cookies, start_at)

            thread = threading.Thread(target=room)
            cpu_before = cpu_by_group()
            thread.start()
            killed = None
            if deployment is not None and args.kill_after is not None:
                killed = deployment.replicas[0]

                def kill():
                    box["killed_at"] = time.monotonic()
                    deployment.kill(killed)

                timer = threading.Timer(max(0.0, start_at + args.kill_after - time.monotonic()), kill)
                timer.start()
            if not args.no_late_visitor:
                time.sleep(max(0.0, start_at + args.late_after - time.monotonic()))
                # a light client's first page load at the same moment: the server's share of the late visitor's wait
                late_cookies = cookies_for(1)
                probe = threading.Thread(
                    target=lambda: box.setdefault("probe", run_ws_room(url, 1, 0.0, late_cookies, -1.0)[0])
                )
                probe.start()
                box["late"] = late_visit(browser, url)  # Playwright's sync API stays on this thread
                probe.join()
            thread.join()
            report["cores_busy_by_group"] = cpu_used(cpu_before, cpu_by_group(), time.monotonic() - start_at + 5.0)
            if killed is not None:
                timer.join()
            clients = box["clients"]
            stop.set()
            late = box.get("late", {})
            errors = [e for c in clients for e in c.errors] + ([late["error"]] if "error" in late else [])
            rows = quality_rows(clients, seconds, args.min_steps, args.min_refreshes)
            report.update(client="ws", rows=rows, errors=errors)
            if late:
                report.update(
                    late_visitor_first_chart_s=late.get("s"), late_visitor_milestones_s=late.get("milestones")
                )
                report["late_visitor_replica"] = late.get("replica")
                report["late_light_client_first_run_s"] = box["probe"].first_run_s
                report["late_visitor_failed_requests"] = late.get("failed_requests")
            if deployment is not None:
                report["split"] = dict(collections.Counter(c.replica for c in clients))
            if killed is not None:
                t = box["killed_at"]
                lost = [c for c in clients if c.replica == killed]
                kept = [c for c in clients if c.replica != killed]
                after = max(1e-9, start_at + seconds - t)
                report["kill"] = {
                    "replica": killed,
                    "after_play_s": args.kill_after,
                    "its_sessions": len(lost),
                    "its_sessions_disconnected": sum(c.disconnected_at is not None for c in lost),
                    "others": len(kept),
                    "others_disconnected": sum(c.disconnected_at is not None for c in kept),
                    "others_steps_per_s_after": [round((c.step - steps_at(c, t)) / after, 1) for c in kept],
                    "others_advancing_after": sum(c.step > steps_at(c, t) for c in kept),
                }
        else:
            report.update(browser_room(room_browser, browser, url, sessions, seconds, args))
            stop.set()
        report["server_peak_rss_mb"] = peak_rss[0] / 2**20
    return print_report(report)


def browser_room(browser, late_browser, url: str, sessions: int, seconds: float, args) -> dict:
    """The room as real Chromium contexts (heavier on this machine than the server itself); the late visitor comes
    in ``late_browser`` (the same one, or one at normal priority when the room's runs at ``--room-nice``)."""
    pages, errors = [], []
    for i in range(sessions):
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.on("pageerror", lambda e, i=i: errors.append(f"session {i}: {e}"))
        page.goto(url, timeout=120_000)
        pages.append(page)
    for page in pages:
        wait_ready(page, timeout=120)
        page.wait_for_selector(".st-key-play button", timeout=120_000)
    clicked = []  # when each session pressed Play: its steps/s counts from there to when its steps were read
    for page in pages:
        page.evaluate(COUNT_REDRAWS)
        page.locator(".st-key-play button").click()
        clicked.append(time.perf_counter())
    t0, wall0 = time.perf_counter(), time.time()  # every session is playing from here
    cpu_before = cpu_by_group()
    late = None
    while time.perf_counter() - t0 < seconds:
        if late is None and time.perf_counter() - t0 >= args.late_after:
            late = late_visit(late_browser, url)
            if "error" in late:
                errors.append(late["error"])
        time.sleep(1.0)
    room_s = time.perf_counter() - t0
    cpu = cpu_used(cpu_before, cpu_by_group(), room_s)
    trained = server_steps(wall0, wall0 + room_s)
    read = []  # every session's step count first, in one quick pass (the room trains on while it is read)
    for page in pages:
        read.append((number_in(page, "step-count") or 0, time.perf_counter()))
    rows = []
    for i, page in enumerate(pages):
        steps, read_at = read[i]
        elapsed = read_at - clicked[i]
        redraws = page.evaluate("() => window.__redraws")
        busiest = page.evaluate("() => Math.max(0, ...Object.values(window.__perChart))")  # ≈ page refreshes
        waiting = page.get_by_text("Waiting for a free training slot").count() > 0
        if page.locator("[data-testid=stException]").count():
            errors.append(f"session {i}: exception shown on the page")
        rows.append(
            {
                "session": i,
                "replica": None,
                "steps": steps,
                "seconds_played": round(elapsed, 1),
                "steps_per_s": round(steps / elapsed, 1),
                "chart_refreshes": redraws,
                "frames": busiest,
                "refreshes_per_s": round(busiest / elapsed, 2),
                "waiting_at_end": waiting,
                "meets_quality": steps / elapsed >= args.min_steps and busiest / elapsed >= args.min_refreshes,
            }
        )
        pause = page.locator(".st-key-pause button")
        if pause.count():
            with contextlib.suppress(Exception):  # a browser starved of CPU (--room-nice) may not click in time
                pause.click(timeout=10_000)
        else:  # it stopped by itself (an error, or abandoned): say so instead of failing the whole report
            errors.append(f"session {i}: not playing at the end (no Pause button)")
            page.screenshot(path=str(ARTIFACTS / f"load-browser-session-{i}-end.png"), full_page=True)
    out = {"client": "browser", "rows": rows, "errors": errors, "cores_busy_by_group": cpu}
    if trained:  # what the server trained while every session was playing, session by session
        out["server_steps"] = sorted(trained.values())
        out["server_total_steps_per_s"] = round(sum(trained.values()) / room_s, 1)
    if late:
        out.update(late_visitor_first_chart_s=late.get("s"), late_visitor_milestones_s=late.get("milestones"))
    return out


def print_report(report: dict) -> int:
    rows = report["rows"]
    print(
        f"{'session':>7s} {'replica':>16s} {'steps':>7s} {'steps/s':>8s} {'refr/s':>7s} {'waiting':>7s} {'quality':>7s}"
    )
    for r in rows:
        print(
            f"{r['session']:7d} {r['replica'] or '-':>16s} {r['steps']:7.0f} {r['steps_per_s']:8.1f} "
            f"{r['refreshes_per_s']:7.2f} {r['waiting_at_end']!s:>7s} {'yes' if r['meets_quality'] else 'no':>7s}"
        )
    total = sum(r["steps_per_s"] for r in rows)  # each over its own time played (browser rows are read in turn)
    met = sum(r["meets_quality"] for r in rows)
    q = report["quality"]
    report.update(
        total_steps_per_s=round(total, 1),
        sessions_meeting_quality=met,
        sessions_per_core_at_quality=round(met / report["cores"], 2),
        slowest_over_fastest=min(r["steps"] for r in rows) / max(max(r["steps"] for r in rows), 1),
    )
    late = report.get("late_visitor_first_chart_s")
    print(
        f"sessions: {len(rows)} on {report['replicas'] or 1} server(s), {report['cores']} cores, training "
        f"{'in ' + str(report['training_processes']) + ' worker process(es) each' if report.get('training_processes') not in (None, '', '0') else 'in threads'} (load average at start {report['load_average_at_start'][0]:.1f}); errors: {len(report['errors'])}"
    )
    print(
        f"total {total:.0f} steps/s"
        + (
            f" (one session alone: {report['baseline_one_session_steps_per_s']:.0f} steps/s and "
            f"{report['baseline_one_session_refreshes_per_s']:.1f} refreshes/s; ratio "
            f"{total / max(report['baseline_one_session_steps_per_s'], 1e-9):.2f})"
            if "baseline_one_session_steps_per_s" in report
            else ""
        )
        + f"; slowest/fastest steps {report['slowest_over_fastest']:.2f}"
    )
    print(
        f"quality (>= {q['min_steps_per_s']:g} steps/s and >= {q['min_refreshes_per_s']:g} refreshes/s each): "
        f"{met}/{len(rows)} sessions = {met / report['cores']:.2f} sessions per core"
    )
    if "server_total_steps_per_s" in report:
        server_total, trained = report["server_total_steps_per_s"], report["server_steps"]
        alone = report.get("baseline_one_session_steps_per_s")
        print(
            f"counted on the server while all played: total {server_total:.0f} steps/s"
            + (f" (ratio {server_total / max(alone, 1e-9):.2f} against one alone)" if alone else "")
            + f"; {len(trained)} sessions trained, {trained[0]}–{trained[-1]} steps each"
        )
    if late is not None:
        print(f"late visitor first chart: {late:.1f} s {report.get('late_visitor_milestones_s') or ''}")
        if report.get("late_light_client_first_run_s") is not None:
            print(
                f"a late light client's first script run (server only): {report['late_light_client_first_run_s']:.2f} s"
            )
    print(f"server peak RSS: {report['server_peak_rss_mb']:.0f} MB (all replicas)")
    if report.get("room_browsers_nice"):
        print(f"the room's Chromium ran at nice {report['room_browsers_nice']}; the late visitor's at 0")
    if "cores_busy_by_group" in report:
        print("cores kept busy during the room, by process group:", report["cores_busy_by_group"])
    if "split" in report:
        print("sessions per replica:", report["split"])
    if "kill" in report:
        print("replica stopped:", report["kill"])
    for e in report["errors"][:10]:
        print("  error:", e)
    (ARTIFACTS / "load-report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
