"""Helpers for the real-browser tests: start `streamlit run` on 127.0.0.1 and drive Debian's Chromium.

On a machine without /usr/bin/chromium or playwright the browser tests skip with a reason, except under CI
(``CI=true``) where they must run and a missing browser fails the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


COUNT_REDRAWS = """
() => {
  // Count chart refreshes that show new content: a signature of each chart's numbers changes.
  const sig = (el) => (el.data || []).map((tr) => {
    // arrays arrive base64-encoded ({dtype, bdata}) or as plain lists
    const text = (v) => (v === undefined ? '' : v.bdata !== undefined ? v.bdata : JSON.stringify(v));
    const hash = (t) => {
      let h = 0;
      for (let k = 0; k < t.length; k += 11) h = (h * 31 + t.charCodeAt(k)) | 0;
      return t.length + ':' + h;
    };
    return hash(text(tr.z)) + '/' + hash(text(tr.y));
  }).join('|') + JSON.stringify((el.layout && el.layout.annotations || []).map((a) => a.text));
  window.__redraws = 0;
  window.__perChart = {};
  if (window.__redrawTimer) clearInterval(window.__redrawTimer);
  const seen = new Map();
  window.__redrawTimer = setInterval(() => {
    document.querySelectorAll('.js-plotly-plot').forEach((el, i) => {
      const s = sig(el);
      if (seen.has(i) && seen.get(i) !== s) {
        window.__redraws += 1;
        window.__perChart[i] = (window.__perChart[i] || 0) + 1;
      }
      seen.set(i, s);
    });
  }, 50);
  return document.querySelectorAll('.js-plotly-plot').length;
}
"""


def require_browser() -> None:
    """Skip (or, under CI, fail) when Chromium or Playwright is missing."""
    missing = []
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing.append("Debian chromium (/usr/bin/chromium): apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright: pip install -r requirements-dev.txt")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(script: str = "app.py", extra_args: tuple[str, ...] = ()):
    """Run ``streamlit run script`` on a free loopback port; yields the base URL; stops it by its PID."""
    port = free_port()
    log = open(ARTIFACTS / f"streamlit-{port}.log", "w")  # noqa: SIM115
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *extra_args,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def chromium():
    with chromiums(0) as (browser,):
        yield browser


@contextlib.contextmanager
def chromiums(*nice: int, cpus: str | None = None):
    """One Chromium per entry of ``nice``, each running at that scheduling priority (0: as this process; 19: only
    what nothing else wants, e.g. a benchmark's room of browsers that would be on the visitors' own machines).

    Playwright starts each Chromium in a session of its own, which Linux schedules as a task group of its own
    (``sched_autogroup``): there a process's own ``nice`` only ranks it against its own group, and every group gets an
    equal share of the CPU. So the wrapper sets the group's nice too (``/proc/self/autogroup``), or 12 browsers
    would be 12 groups against the server's one whatever their ``nice``. ``cpus`` (e.g. "1") keeps every browser on
    those CPUs (``taskset``), away from a server pinned to the others."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="realnvp-chromium-") as folder, sync_playwright() as p:
        browsers = []
        try:
            for n in nice:
                executable = CHROMIUM
                if n or cpus:
                    executable = str(Path(folder) / f"chromium-nice-{n}")
                    pin = f"taskset -c {cpus} " if cpus else ""
                    Path(executable).write_text(
                        f"#!/bin/sh\necho {int(n)} > /proc/self/autogroup 2>/dev/null\n"
                        f'exec {pin}nice -n {int(n)} {CHROMIUM} "$@"\n'
                    )
                    os.chmod(executable, 0o755)
                browsers.append(p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS))
            yield browsers
        finally:
            for browser in browsers:
                browser.close()


def wait_ready(page, timeout: float = 60.0) -> None:
    """Wait until the app has rendered and no script run is in progress."""
    page.wait_for_selector("[data-testid=stApp]", timeout=timeout * 1000)
    page.wait_for_selector("[data-testid=stMain] [data-testid=stVerticalBlock]", timeout=timeout * 1000)
    deadline = time.time() + timeout
    while time.time() < deadline:
        # a first visit's controls arrive in a second run, started once the page has painted (first_paint.py)
        if page.locator("[data-testid=stStatusWidget], [class*=st-key-realnvp-deferred-]").count() == 0:
            return
        time.sleep(0.1)
    raise TimeoutError("the app kept running its script (or never drew the part it held back)")


def number_in(page, key: str) -> float | None:
    """The first number shown inside the element with widget/container key ``key`` (class ``st-key-<key>``)."""
    loc = page.locator(f".st-key-{key}")
    if loc.count() == 0:
        return None
    text = loc.first.inner_text()
    value = page.locator(f".st-key-{key} [data-testid=stMetricValue]")
    if value.count():
        text = value.first.inner_text()
    match = re.search(r"[-+]?\d[\d,]*\.?\d*", text)
    return float(match.group().replace(",", "")) if match else None


def assert_no_exception(page) -> None:
    errors = page.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.first.inner_text()
