"""A Plotly chart that stays mounted and is updated in place: the live charts of the Playground.

Why not ``st.plotly_chart``: in Streamlit 1.67 a chart's element id is a hash of its whole figure, and the frontend
uses that id as the React key. Every new figure therefore unmounts the chart and builds a fresh one
(``Plotly.purge`` + ``Plotly.newPlot``): new WebGL contexts for the ``Scattergl`` traces, a blank panel in between,
and the user's zoom lost. In a browser that renders WebGL in software this caps the refresh rate near 1–2 per
second and delays clicks (Pause) behind the rendering.

This custom component (components v2, no build step) keeps one chart ``div`` per key and calls ``Plotly.react`` on
it with each new figure, so Plotly only redraws what changed, keeps its WebGL contexts and honours ``uirevision``.
It uses the plotly.js that Streamlit's frontend has already loaded (``window.Plotly``). If that is missing (the
first chart of a page can mount before Streamlit's Plotly bundle is loaded), the component waits for it, and after
a few seconds without it reports ``missing`` so the page falls back to ``st.plotly_chart``. Only figure JSON built
by the app crosses to the page, never user text as HTML.
"""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.utils import PlotlyJSONEncoder

__all__ = ["live_chart", "preload_plotly"]

_HTML = '<div class="realnvp-live-chart"></div>'
# layout/paint containment: a redraw inside one chart does not make the browser lay out the rest of the page
_CSS = ".realnvp-live-chart { width: 100%; contain: layout paint; }"
_JS = """
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

function loadStreamlitPlotly(moduleName) {
  // Streamlit's frontend ships plotly.js in a lazily loaded chunk that sets window.Plotly; load it if no
  // st.plotly_chart has done so yet. Resolve the chunk next to Streamlit's own main script.
  if (window.Plotly || !moduleName) return;
  const main = document.querySelector('script[src*="static/js/index."]');
  const url = new URL(moduleName, main ? main.src : new URL('static/js/', document.baseURI));
  import(url.href).catch((err) => console.error('could not load plotly.js', err));
}

function whenPlotlyReady(timeoutMs) {
  return new Promise((resolve) => {
    const start = performance.now();
    const poll = () => {
      if (window.Plotly && window.Plotly.react) return resolve(window.Plotly);
      if (performance.now() - start > timeoutMs) return resolve(null);
      setTimeout(poll, 50);
    };
    poll();
  });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const gd = parentElement.querySelector('.realnvp-live-chart');
  gd.style.minHeight = (data.height || 420) + 'px';
  if (data.figure !== gd.__latest) {  // a rerun that did not change the figure costs nothing
    gd.__latest = data.figure;
    gd.__pending = data.figure;  // only the newest figure matters: skip any that arrive while one is drawn
  }
  if (gd.__pending && !gd.__busy) {
    gd.__busy = true;
    loadStreamlitPlotly(data.plotlyModule);
    (async () => {
      const Plotly = await whenPlotlyReady(8000);
      if (!Plotly) { gd.__busy = false; setStateValue('missing', true); return; }
      while (gd.__pending) {
        const figure = JSON.parse(gd.__pending);
        gd.__pending = null;
        // Hand Plotly the previous trace object for every trace that did not change (the data points, the
        // entropy floor): Plotly.react compares arrays by identity and then skips recomputing that trace.
        const previous = gd.__traces || [];
        const texts = figure.data.map((trace) => JSON.stringify(trace));
        figure.data = figure.data.map((trace, i) =>
          previous[i] && previous[i].text === texts[i] ? previous[i].trace : trace);
        gd.__traces = figure.data.map((trace, i) => ({ trace, text: texts[i] }));
        try {
          const started = performance.now();
          await Plotly.react(gd, figure.data, figure.layout, CONFIG);
          // counters for the browser tests and bench/load.py: redraws done, milliseconds spent in them
          gd.dataset.revision = String((Number(gd.dataset.revision) || 0) + 1);
          gd.dataset.drawMs = String((Number(gd.dataset.drawMs) || 0) + performance.now() - started);
        } catch (err) {
          console.error('live chart update failed', err);
        }
      }
      gd.__busy = false;
    })();
  }
  return () => {
    // called on unmount (and possibly before a re-render): free the WebGL contexts once the div is really gone
    setTimeout(() => { if (!gd.isConnected && window.Plotly) window.Plotly.purge(gd); }, 0);
  };
}
"""


def _streamlit_plotly_module() -> str | None:
    """File name of the chunk of Streamlit's frontend that contains plotly.js (hashed per Streamlit build)."""
    chunks = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return f"./{chunks[0].name}" if chunks else None


_PLOTLY_MODULE = _streamlit_plotly_module()
_component = st.components.v2.component("realnvp_live_chart", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)

# Start fetching and evaluating plotly.js (4.7 MB; ≈1.4 s of the browser's main thread on a busy machine) as soon as
# the page's first element arrives, instead of when the first chart is reached, further down the first script run.
_PRELOAD_KEY = "realnvp-plotly-preload"
_PRELOAD_CSS = f".st-key-{_PRELOAD_KEY} {{ display: none; }}"
_PRELOAD_JS = (
    _JS.split("function whenPlotlyReady")[0]
    + "export default function (component) { loadStreamlitPlotly(component.data.plotlyModule); }\n"
)
_preloader = st.components.v2.component(
    "realnvp_plotly_preload", html="<span></span>", css=_PRELOAD_CSS, js=_PRELOAD_JS, isolate_styles=False
)


def preload_plotly() -> None:
    """An invisible element that makes the browser load Streamlit's plotly.js now (call it early on every run)."""
    _preloader(data={"plotlyModule": _PLOTLY_MODULE}, key=_PRELOAD_KEY)


def live_chart(figure: go.Figure | dict | str, key: str, height: int | None = None) -> None:
    """Show ``figure`` (a ``go.Figure``, a Plotly figure dict, or its JSON text) in a chart that stays mounted
    under ``key``.

    Each call redraws the same chart in place.

    Falls back to ``st.plotly_chart`` for this session if the browser reported that plotly.js was unavailable.
    """
    fallback_flag = f"{key}-use-plotly-chart"
    if st.session_state.get(fallback_flag):
        st.plotly_chart(json.loads(figure) if isinstance(figure, str) else figure, key=key, width="stretch")
        return
    if isinstance(figure, str):  # already serialised (a broadcast serialises once for all its followers)
        text, chart_height = figure, int(height or 420)
    else:
        spec = figure.to_plotly_json() if isinstance(figure, go.Figure) else figure
        text = json.dumps(spec, cls=PlotlyJSONEncoder)
        chart_height = int(height or spec.get("layout", {}).get("height") or 420)
    result = _component(
        data={
            "figure": text,
            "height": chart_height,
            "plotlyModule": _PLOTLY_MODULE,
        },
        key=key,
        on_missing_change=lambda: st.session_state.__setitem__(fallback_flag, True),
    )
    if getattr(result, "missing", False):
        st.session_state[fallback_flag] = True
