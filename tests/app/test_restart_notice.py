"""The "this server restarted" notice: a session whose browser names another server process sees it for its first
seconds, and never again in that session.

AppTest cannot send cookies, so the tests hand the app a stand-in for ``st.context`` carrying the cookie a browser
would send; the real round trip (a replica killed behind nginx) is in tests/browser/test_deploy_proxy.py.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from playground.serving import runtime

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_with_cookies(monkeypatch, cookies: dict) -> AppTest:
    monkeypatch.setattr(streamlit, "context", SimpleNamespace(cookies=cookies, headers={}))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def notices(at: AppTest) -> list[str]:
    return [i.value for i in at.info if i.value == runtime.RESTART_NOTICE]


def cookie_written(at: AppTest) -> str | None:
    import json

    for element in at.get("bidi_component"):
        if element.proto.component_name.endswith("realnvp_server_cookie"):
            data = json.loads(element.proto.json)
            assert data["name"] == runtime.SERVER_COOKIE
            return data["value"]
    return None


@pytest.mark.parametrize(
    "cookies, shown",
    [
        ({}, False),  # a first visit
        ({runtime.SERVER_COOKIE: runtime.SERVER_BOOT_ID}, False),  # a reload on the same process
        ({runtime.SERVER_COOKIE: "0" * 32}, True),  # a process that is gone
    ],
    ids=["first-visit", "same-process", "process-gone"],
)
def test_notice_only_when_the_browser_names_another_process(monkeypatch, cookies, shown):
    at = run_with_cookies(monkeypatch, cookies)
    assert bool(notices(at)) is shown
    assert cookie_written(at) == runtime.SERVER_BOOT_ID  # from now on the browser names this process


def test_notice_stays_for_its_seconds_then_never_comes_back(monkeypatch):
    at = run_with_cookies(monkeypatch, {runtime.SERVER_COOKIE: "f" * 32})
    assert notices(at)
    at.button(key="step").click().run()  # a rerun right after the reconnect (a click, the live view's timer)
    assert not at.exception
    assert notices(at), "the notice was gone on the session's next run, before anyone could read it"
    assert cookie_written(at) is None  # written once, on the session's first run
    clock = runtime.time.monotonic() + runtime.RESTART_NOTICE_SECONDS + 1
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock)
    at.button(key="step").click().run()
    assert not at.exception
    assert not notices(at), "the notice came back after its time"
