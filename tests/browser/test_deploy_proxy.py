"""Two replicas behind nginx on loopback (deploy/local.sh 2): affinity, an upload, a download, and one replica stopped.

Light clients (bench/load.py's ``WsSession``, Streamlit's own websocket protocol) train on both replicas; one real
Chromium page uploads a file, downloads samples and trains through the proxy. Then the Chromium page's replica is
killed: its page reconnects to the other replica and says the server restarted, and the other replica's sessions go
on training. Skipped with a reason where nginx, Chromium or Playwright is missing, except under CI=true, where it must
run (.ci/run installs nginx and Chromium). Everything deploy/local.sh started is stopped, also on failure.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from bench.load import ROUTE_COOKIE, WsSession, first_visit, local_deploy, replica_for, steps_at
from playground.serving.runtime import RESTART_NOTICE
from tests.browser.harness import ARTIFACTS, assert_no_exception, chromium, require_browser, wait_ready

pytestmark = pytest.mark.browser

NGINX = "/usr/sbin/nginx"


def require_nginx() -> None:
    if not os.access(NGINX, os.X_OK):
        message = f"the proxy test needs Debian's nginx ({NGINX}): apt-get install -y nginx"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def routes_to(proxy_url: str, replica: str, n: int) -> list[str]:
    """``n`` affinity cookies (as nginx hands them out on first visits) that the proxy sends to ``replica``."""
    routes = []
    for _ in range(200):
        route, served = first_visit(proxy_url)
        if served == replica:
            routes.append(route)
            if len(routes) == n:
                return routes
    raise AssertionError(f"200 first visits never reached {replica} {n} times: the proxy does not spread visitors")


def run_room(clients: list[WsSession], seconds: float) -> None:
    import asyncio

    async def room():
        await asyncio.gather(*(c.run(seconds, time.monotonic()) for c in clients))

    asyncio.run(room())


def test_two_replicas_behind_nginx(tmp_path):
    require_browser()
    require_nginx()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    upload = tmp_path / "blob.csv"
    upload.write_text("x,y\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, b in rng.normal(size=(300, 2))))
    # two sessions may train at once on each replica, so the survivors' progress is not a matter of queue turns
    t0, phases = time.monotonic(), {}  # seconds from the start to each phase's end, printed (not asserted)
    with local_deploy(2, tmp_path / "state", env={"REALNVP_TRAINING_SLOTS": "2"}) as deployment:
        phases["replicas_up"] = time.monotonic() - t0
        proxy = deployment.proxy_url
        a, b = deployment.replicas
        assert len(deployment.replica_urls) == 2 and proxy not in deployment.replica_urls

        # affinity: first visits spread over both replicas; each cookie keeps going to the same one
        landed = {first_visit(proxy)[1] for _ in range(40)}
        assert landed == {a, b}, f"40 first visits landed on {landed}"
        route_a, route_b = routes_to(proxy, a, 1)[0], routes_to(proxy, b, 1)[0]
        assert {replica_for(proxy, route_a) for _ in range(10)} == {a}
        assert {replica_for(proxy, route_b) for _ in range(10)} == {b}

        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{time.monotonic() - t0:.1f} {m.text}"))
            response = page.goto(proxy, timeout=120_000)
            wait_ready(page, timeout=120)
            assert_no_exception(page)
            route = next(c["value"] for c in context.cookies() if c["name"] == ROUTE_COOKIE)
            home = replica_for(proxy, route)  # the Chromium page's replica
            other = b if home == a else a
            assert response.headers["x-replica"].split(",")[-1].strip() == home
            # the live charts: plotly.js (a 4.7 MB chunk Streamlit's frontend loads on demand) through the proxy
            page.wait_for_selector(".realnvp-live-chart .main-svg", timeout=90_000)
            phases["first_page"] = time.monotonic() - t0

            # an upload (PUT /_stcore/upload_file, XSRF-checked) through the proxy
            page.get_by_role("link", name="Your own points").first.click()
            wait_ready(page, timeout=120)
            page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(upload))
            page.get_by_text("Preview: 300 points").wait_for(timeout=60_000)
            assert_no_exception(page)

            # a download (Streamlit's media endpoint) through the proxy
            page.get_by_role("link", name="Playground").first.click()
            wait_ready(page, timeout=120)
            page.locator("[data-testid=stExpander] summary").filter(has_text="Export and share").click()
            with page.expect_download(timeout=60_000) as download:
                page.locator(".st-key-pg-download-samples button").click()
            samples = download.value.path().read_text().splitlines()
            assert samples[0] == "x,y" and len(samples) == 2001
            page.locator(".st-key-play button").click()  # this page trains too when its replica goes
            phases["upload_download"] = time.monotonic() - t0

            # light clients: two on each replica, training; the Chromium page's replica is killed mid-run
            routes = {home: routes_to(proxy, home, 2), other: routes_to(proxy, other, 2)}
            cookies = [{ROUTE_COOKIE: r} for r in routes[home] + routes[other]]
            clients = [WsSession(proxy, i, c) for i, c in enumerate(cookies)]
            room = threading.Thread(target=lambda: run_room(clients, 120.0), daemon=True)
            room.start()
            deadline = time.monotonic() + 90
            while not all(c.step > 0 for c in clients):  # every light client has trained (whatever the load)
                assert time.monotonic() < deadline, [(c.index, c.step, c.errors) for c in clients]
                assert room.is_alive(), [(c.index, c.errors) for c in clients]
                time.sleep(0.2)
            killed_at = time.monotonic()
            phases["all_training"] = killed_at - t0
            deployment.kill(home)
            for c in clients:
                c.until = killed_at + 12.0  # the survivors train on for 12 s more

            # the Chromium page reconnects (Streamlit's own reconnect), lands on the other replica, and its next
            # run (the live view's timer) says the server restarted
            stuck = ""  # what the page showed if the reconnect did not bring the notice (for the failure message)
            try:
                try:
                    page.get_by_text(RESTART_NOTICE).wait_for(timeout=30_000)
                except PlaywrightTimeout:  # the reconnect did not bring a run: the visitor reloads, as people do
                    stuck = page_summary(page, console)
                    phases["notice_needed_a_reload"] = time.monotonic() - t0
                    page.screenshot(path=str(ARTIFACTS / "deploy-proxy-before-reload.png"), full_page=True)
                    page.reload(timeout=60_000)
                    page.get_by_text(RESTART_NOTICE).wait_for(timeout=60_000)
            except Exception as err:
                page.screenshot(path=str(ARTIFACTS / "deploy-proxy-no-notice.png"), full_page=True)
                (ARTIFACTS / "deploy-proxy-console.txt").write_text("\n".join(console))
                raise AssertionError(
                    f"no restart notice; before the reload: {stuck}; now: {page_summary(page, console)}"
                ) from err
            if stuck:
                print("\nPROXY TEST the reconnect alone did not show the notice; the page showed:", stuck)
            phases["restart_notice"] = time.monotonic() - t0
            assert replica_for(proxy, route) == other
            page.screenshot(path=str(ARTIFACTS / "deploy-proxy-restart-notice.png"), full_page=True)
            room.join(timeout=150)
            assert not room.is_alive(), "the light clients did not finish"
            page.reload()
            wait_ready(page, timeout=120)
            assert page.get_by_text(RESTART_NOTICE).count() == 0, "the notice is shown once, not on every visit"
            context.close()

        assert [c.replica for c in clients] == [home, home, other, other]
        for c in clients[:2]:
            assert c.disconnected_at is not None, f"session {c.index} on the stopped replica did not notice"
        for c in clients[2:]:
            assert c.disconnected_at is None, c.errors
            before, after = steps_at(c, killed_at), c.step
            assert before > 0, f"session {c.index} had not trained before the kill"
            assert after > before, f"session {c.index} stopped training when the other replica went ({before})"
            assert not [e for e in c.errors if "Exception" in e or "exception" in e], c.errors
        phases["done"] = time.monotonic() - t0
        print("\nPROXY TEST phases (s):", {k: round(v, 1) for k, v in phases.items()})
        print(
            "PROXY TEST sessions (replica, steps at the kill, steps at the end, disconnected):",
            {c.index: (c.replica, steps_at(c, killed_at), c.step, c.disconnected_at is not None) for c in clients},
        )
    assert deployment.alive() == [], "deploy/local.sh left processes running"


def page_summary(page, console: list[str]) -> str:
    """What a stuck page shows: Streamlit's connection status, the start of its text, its last console lines."""
    try:
        status = page.locator("[data-testid=stStatusWidget]").all_inner_texts()
        text = page.locator("body").inner_text(timeout=5_000)[:400].replace("\n", " | ")
    except Exception as err:  # the page itself is gone or hung
        status, text = [], f"(could not read the page: {type(err).__name__})"
    return f"status={status} text={text!r} console={console[-8:]}"
