"""Let a new visitor's browser paint the numbers and charts before it lays out a column of controls.

A browser lays out everything a script run sent in one go. On the Playground the ~25 controls (sliders, selects,
a number input) cost a first visit ≈0.8 s of the browser's main thread on this machine (first picture 3.4–3.7 s
with them, 2.6–2.7 s without, idle server, ``bench/load.py``'s late visitor), so the first run of a session draws a
one-line placeholder in their place and a beacon: a tiny component (no user text) that, once the page has painted,
asks for one more run, which draws the controls. Any other run (a click, a URL change) draws them too, and so does
every run without a browser behind it (``AppTest``, which sends no HTTP headers).

Example::

    with controls_column:
        draw_now = painted_once("pg-controls", after=".realnvp-live-chart canvas")
    with charts_column:
        draw_charts()
    if draw_now:
        with controls_column:
            draw_controls()
"""

from __future__ import annotations

import streamlit as st

__all__ = ["painted_once"]

_JS = """
export default function ({ data, setTriggerValue }) {
  // once per page: when the element the page paints first is there (or 5 s went by), two animation frames (the
  // first runs before the browser paints it, the second after), then ask for the run that draws the rest
  const fired = window.__realnvpFirstPaint || (window.__realnvpFirstPaint = new Set());
  if (fired.has(data.key)) return;
  fired.add(data.key);
  const since = performance.now();
  const wait = () => (data.after && !document.querySelector(data.after) && performance.now() - since < 5000
    ? setTimeout(wait, 50)
    : requestAnimationFrame(() => requestAnimationFrame(() => setTriggerValue('painted', true))));
  wait();
}
"""
_beacon = st.components.v2.component("realnvp_first_paint", html="<span></span>", js=_JS)


def painted_once(key: str, after: str | None = None, placeholder: str = "Loading the controls…") -> bool:
    """Whether the part named ``key`` may be drawn in this run: False only in a browser session's first run, where
    it shows ``placeholder`` and reruns the page as soon as the browser has painted the element matching the CSS
    selector ``after`` (the charts, say; call this before drawing them, so the placeholder arrives first)."""
    seen = f"{key}-first-run-done"
    if st.session_state.get(seen) or not getattr(st.context, "headers", None):
        st.session_state[seen] = True
        return True
    st.session_state[seen] = True  # whatever reruns next draws it, the beacon's run or the visitor's first click
    with st.container(key=f"realnvp-deferred-{key}"):  # live_chart.py holds plotly.js back while it is there
        st.caption(placeholder)
        _beacon(data={"key": key, "after": after}, key=f"{key}-beacon", on_painted_change=lambda: None, height=0)
    return False
