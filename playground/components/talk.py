"""Presenter view and follow links: what a speaker needs on a projector, and what the room sees on its phones.

- :func:`talk_mode` — ``?talk=1`` on any page (or the sidebar toggle) turns on the presenter view: big type, no
  blank band at the top, controls tucked into the sidebar drawer, charts sized to fit one 1920×1080 screen.
- :func:`follow_panel` — the speaker opens a broadcast; the page shows the follow link ``/?follow=<id>`` and its QR
  code (SVG drawn by ``segno``, pure Python).
- :func:`follower_view` — what ``/?follow=<id>`` shows: the speaker's charts and step count, refreshed from the
  published snapshot (twice a second in a small room, slower in a big one: see ``Broadcast.refresh_period``), with no
  control that could change the run.

Streamlit glue only. The CSS is the app's own constant text; nothing a user typed is ever rendered as HTML.
"""

from __future__ import annotations

import io
import secrets

import streamlit as st

from playground.components.live_chart import live_chart
from playground.serving.broadcast import Broadcast, Broadcasts

__all__ = ["talk_mode", "TALK_CSS", "broadcasts", "follow_panel", "follower_view", "qr_svg", "follow_link"]

# Presenter view: larger root type (Streamlit sizes everything in rem), the top band and paddings removed, metric
# values readable from the back of a room.
TALK_CSS = """<style>
html { font-size: 19px; }
[data-testid="stMainBlockContainer"] { padding-top: 0.8rem; padding-bottom: 0.5rem; max-width: 100%; }
[data-testid="stHeader"] { height: 0; min-height: 0; background: transparent; }
[data-testid="stMetricValue"] { font-size: 2.6rem; line-height: 1.1; }
[data-testid="stMetricLabel"] p { font-size: 1.05rem; }
.stButton button { font-size: 1.15rem; min-height: 2.6rem; }
[data-testid="stVerticalBlock"] { gap: 0.55rem; }
</style>"""


def talk_mode() -> bool:
    """Whether the presenter view is on: ``?talk=1`` on first load or the sidebar toggle (kept in the URL)."""
    if "talk" not in st.session_state:
        st.session_state["talk"] = str(st.query_params.get("talk", "")).lower() in ("1", "true", "yes")
    st.sidebar.toggle(
        "Presenter view", key="talk", help="Big type, controls in this drawer, every chart on one screen (?talk=1)."
    )
    talk = bool(st.session_state["talk"])
    if talk:
        st.query_params["talk"] = "1"
        st.html(TALK_CSS)
    elif "talk" in st.query_params:
        del st.query_params["talk"]
    return talk


@st.cache_resource(show_spinner=False)
def broadcasts() -> Broadcasts:
    """The server's registry of follow links (one per process; a replica's followers must reach that replica)."""
    return Broadcasts()


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as SVG markup (``segno``: pure Python, no image libraries).

    >>> qr_svg("http://127.0.0.1:8501/?follow=abc").startswith("<svg")
    True
    """
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=5, border=2, dark="#08306b", xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def follow_link(broadcast: Broadcast) -> str:
    """The absolute follow URL as the speaker's browser reached this server (``/?follow=<id>`` if unknown)."""
    base = ""
    try:
        url = st.context.url or ""
        base = url.split("?")[0].rstrip("/")
        for suffix in ("/playground", "/layers", "/points", "/images", "/about", "/race"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
    except Exception:  # noqa: BLE001 - no browser context (AppTest): a relative link still works
        base = ""
    return f"{base}/?follow={broadcast.id}"


def follow_panel(key: str = "follow") -> Broadcast | None:
    """The speaker's "let the room follow" switch; returns the open broadcast (publish into it every frame)."""
    on = st.toggle(
        "Let the room follow this run",
        key=f"{key}-on",
        help="Viewers of the link see this run live, read-only; they cost the server drawing, never training.",
    )
    current: Broadcast | None = st.session_state.get(f"{key}-broadcast")
    if not on:
        if current is not None:
            broadcasts().close(current.id)
            st.session_state.pop(f"{key}-broadcast", None)
        return None
    if current is None or current.stopped:
        current = broadcasts().open()
        st.session_state[f"{key}-broadcast"] = current
    link = follow_link(current)
    c1, c2 = st.columns([1, 3])
    c1.image(qr_svg(link), width=180)
    with c2:
        st.markdown("**Follow this run** — open on any phone or laptop:")
        st.code(link, language=None)
        st.caption("Followers see the same charts and step count, and cannot pause, reset or retune the run.")
    return current


def follower_view(broadcast_id: str) -> None:
    """The whole page for ``/?follow=<id>``: the speaker's latest charts, refreshed from the published snapshot."""
    broadcast = broadcasts().get(broadcast_id)
    if broadcast is None:
        st.error(
            "This follow link does not match a run on this server. Ask the speaker for the current link "
            "(links are random and end with the speaker's session)."
        )
        return
    st.session_state["follow-id"] = broadcast.id
    me = st.session_state.setdefault("follower-id", secrets.token_hex(8))
    broadcast.seen(me)

    @st.fragment(run_every=broadcast.refresh_period())
    def frame() -> None:
        b = broadcasts().get(st.session_state["follow-id"])
        if b is None or b.ended:
            st.warning("This run has ended: the speaker stopped sharing it or closed the page.", icon=":material/stop:")
            return
        b.seen(me)
        if abs(b.refresh_period() - st.session_state.setdefault("follow-period", b.refresh_period())) > 0.2:
            st.session_state["follow-period"] = b.refresh_period()
            st.rerun()  # the room grew or shrank: a full rerun restarts the fragment's timer at the new period
        st.markdown(f"**Following the speaker's run** · {b.title}" + (" · training…" if b.playing else " · paused"))
        m = st.columns(len(b.metrics) + 1)
        with m[0].container(key="follow-step-count"):
            st.metric("Step", f"{b.step:,}")
        for column, (label, value) in zip(m[1:], b.metrics.items(), strict=True):
            column.metric(label, value)
        left, right = st.columns(2)  # before the first chart too: the same place holds the same kind of element
        if not b.figures:
            left.info("Waiting for the speaker's first chart…")
            return
        texts, heights = b.figure_json()  # serialised once per publication, shared by every follower
        with left:
            live_chart(texts["density"], key="follow-density", height=heights["density"])
        with right:
            live_chart(texts["points"], key="follow-points", height=heights["points"])
        live_chart(texts["loss"], key="follow-loss", height=heights["loss"])

    frame()
