"""A tiny canvas component: click to add a 2-D point (Plotly cannot add points on empty space).

Streamlit custom component v2 (no build step): the JavaScript draws the current points and reports each click as a
trigger value ``[x, y]`` in the window ``[-WINDOW, WINDOW]²``. Only numbers cross from Python to the page.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["click_canvas", "WINDOW"]

WINDOW = 4.0

_HTML = '<canvas class="pts-canvas" width="480" height="480"></canvas>'
_CSS = ".pts-canvas { border: 1px solid #bbb; border-radius: 6px; cursor: crosshair; max-width: 100%; }"
_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  const canvas = parentElement.querySelector('canvas');
  const ctx = canvas.getContext('2d');
  const W = data.window, n = canvas.width;
  const toPx = (v) => (v + W) / (2 * W) * n;
  ctx.clearRect(0, 0, n, n);
  ctx.strokeStyle = '#eee';
  for (let g = -W; g <= W; g += 1) {
    ctx.beginPath(); ctx.moveTo(toPx(g), 0); ctx.lineTo(toPx(g), n); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, toPx(g)); ctx.lineTo(n, toPx(g)); ctx.stroke();
  }
  ctx.fillStyle = 'rgba(230, 85, 13, 0.8)';
  for (const [x, y] of data.points) {
    ctx.beginPath(); ctx.arc(toPx(x), n - toPx(y), 3, 0, 2 * Math.PI); ctx.fill();
  }
  canvas.onclick = (e) => {
    const r = canvas.getBoundingClientRect();
    const px = (e.clientX - r.left) / r.width * n, py = (e.clientY - r.top) / r.height * n;
    const x = px / n * 2 * W - W, y = (n - py) / n * 2 * W - W;
    setTriggerValue('click', [Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]);
  };
}
"""

_component = st.components.v2.component("realnvp_click_canvas", html=_HTML, css=_CSS, js=_JS)


def click_canvas(points: list[list[float]], key: str, on_click=None):
    """Mount the canvas showing ``points``; returns the clicked ``[x, y]`` of this rerun, or None."""
    safe = [[float(x), float(y)] for x, y in points][-5000:]
    result = _component(data={"points": safe, "window": WINDOW}, key=key, on_click_change=on_click or (lambda: None))
    return getattr(result, "click", None)
