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
a few seconds without it reports ``missing`` so the page falls back to ``st.plotly_chart``. Until plotly.js is
there, a preview drawn on a canvas from the same figure JSON (heatmap, markers, lines, ticks, title as plain text)
stands in, so a first visit on a busy machine shows its charts before the 4.7 MB of plotly.js are evaluated. Only figure JSON built
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
_CSS = ".realnvp-live-chart { width: 100%; contain: layout paint; } .realnvp-preview { display: block; }"
_JS = """
// a touch screen without hover (a phone) shows the mode bar all the time, over the chart's title: none there
const NO_HOVER = typeof window.matchMedia === 'function' && window.matchMedia('(hover: none)').matches;
const CONFIG = {
  displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'], ...(NO_HOVER ? { displayModeBar: false } : {}),
};

function loadStreamlitPlotly(moduleName, delayMs) {
  // Streamlit's frontend ships plotly.js in a lazily loaded chunk that sets window.Plotly; load it (once per page,
  // shared by every chart and the preloader) if no st.plotly_chart has done so yet. Resolve the chunk next to
  // Streamlit's own main script. Evaluating its 4.7 MB holds the browser's main thread for 0.3-1.5 s, so it starts
  // only after the page has painted (the charts' previews first): ``delayMs`` later, or at once if a chart asks.
  // Resolves to window.Plotly, or to null if the chunk could not be loaded (the caller then falls back).
  const ready = () => window.Plotly && window.Plotly.react;
  if (ready()) return Promise.resolve(window.Plotly);
  const box = window.__realnvpPlotly || (window.__realnvpPlotly = {});
  if (!box.promise) {
    box.promise = new Promise((resolve) => { box.start = resolve; }).then(() => {
      if (ready() || !moduleName) return null;
      const main = document.querySelector('script[src*="static/js/index."]');
      const url = new URL(moduleName, main ? main.src : new URL('static/js/', document.baseURI));
      return import(url.href);
    }).then(() => new Promise((resolve) => {
      // the chunk sets window.Plotly while it is evaluated; allow a moment for it (or for Streamlit's own load)
      const start = performance.now();
      const poll = () => (ready() ? resolve(window.Plotly)
        : performance.now() - start > 5000 ? resolve(null) : setTimeout(poll, 50));
      poll();
    }), (err) => { console.error('could not load plotly.js', err); return null; });
  }
  // After the next paint (a frame, then a task, or ``delayMs`` later for the preloader), and, if a part of the page
  // is held back to its second run (playground/components/first_paint.py: the Playground's controls), once it has
  // arrived and had 0.6 s to lay out (sliders measure themselves a frame or two after they mount), or after 4 s:
  // evaluating plotly.js first would keep the controls off screen for seconds.
  const heldBack = () => document.querySelector('[class*="st-key-realnvp-deferred-"]');
  const whenShown = (since, waited) => {
    if (heldBack() && performance.now() - since < 4000) return setTimeout(() => whenShown(since, true), 100);
    return waited ? setTimeout(() => requestAnimationFrame(() => setTimeout(() => box.start(), 0)), 600) : box.start();
  };
  requestAnimationFrame(() => setTimeout(() => whenShown(performance.now(), false), delayMs || 0));
  return box.promise;
}

// A preview drawn on a canvas from the same figure JSON while plotly.js (4.7 MB) is still loading: a late visitor
// on a busy machine sees the density, the points and the curves seconds before the interactive chart. It draws
// heatmaps (Viridis), marker clouds and lines in the figure's margins, ranges and equal-axis scaling, and the title
// as plain text; Plotly replaces it with its first draw.
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
  [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];

function numbers(spec) {
  if (spec == null) return [];
  if (Array.isArray(spec)) return spec.flat ? spec.flat() : spec;
  if (spec.bdata === undefined) return Array.from(spec);
  const bytes = Uint8Array.from(atob(spec.bdata), (c) => c.charCodeAt(0));
  const Kind = { f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array, i2: Int16Array,
    u2: Uint16Array, i1: Int8Array, u1: Uint8Array }[spec.dtype] || Float64Array;
  return new Kind(bytes.buffer);
}

function niceTicks(lo, hi) {
  const raw = (hi - lo) / 5, unit = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * unit).find((s) => s >= raw) || unit;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 && ticks.length < 12; v += step) ticks.push(v);
  return { ticks, digits: Math.max(0, -Math.floor(Math.log10(step))) };
}

// A title wider than its chart (a phone, a narrow column) is shrunk, down to 12 px, and then broken into lines at
// spaces with the top margin grown to hold them: Plotly itself never wraps a title and cuts it off at the edge.
function fitTitle(layout, width) {
  const title = layout.title;
  if (!title || typeof title.text !== 'string' || !width) return;
  const family = (layout.font && layout.font.family) || 'sans-serif';
  const ctx = fitTitle.ctx || (fitTitle.ctx = document.createElement('canvas').getContext('2d'));
  const measure = (text, size) => { ctx.font = `${size}px ${family}`; return ctx.measureText(text).width; };
  const room = width * (1 - (title.x ?? 0.02)) - 12;
  let size = (title.font && title.font.size) || 18;
  while (size > 12 && measure(title.text, size) > room) size -= 1;
  title.font = Object.assign({}, title.font, { size });
  if (measure(title.text, size) <= room || title.text.includes('<')) return;
  const lines = [];
  let line = '';
  for (const word of title.text.split(' ')) {
    const longer = line ? `${line} ${word}` : word;
    if (line && measure(longer, size) > room) { lines.push(line); line = word; } else line = longer;
  }
  lines.push(line);
  title.text = lines.join('<br>');
  layout.margin = Object.assign({ t: 56 }, layout.margin);
  layout.margin.t += Math.ceil((lines.length - 1) * size * 1.25);
}

function drawPreview(gd, figure, height) {
  const traces = figure.data || [], layout = figure.layout || {};
  const W = gd.clientWidth || 600, H = height;
  fitTitle(layout, W);
  const m = Object.assign({ l: 80, r: 80, t: 100, b: 80 }, layout.margin || {});
  let canvas = gd.querySelector('canvas.realnvp-preview');
  if (!canvas) {
    canvas = document.createElement('canvas');
    canvas.className = 'realnvp-preview';
    gd.appendChild(canvas);
  }
  const ratio = window.devicePixelRatio || 1;
  canvas.width = W * ratio; canvas.height = H * ratio;
  canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = layout.paper_bgcolor || 'white';
  ctx.fillRect(0, 0, W, H);
  const columns = traces.map((t) => ({ t, x: numbers(t.x), y: numbers(t.y) }));
  const extent = (key, axis) => {
    if (axis && axis.range) return axis.range.slice();
    let lo = Infinity, hi = -Infinity;
    for (const c of columns) for (const v of c[key]) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!Number.isFinite(lo)) return [0, 1];
    const pad = hi > lo ? 0.05 * (hi - lo) : 0.5;
    return [lo - pad, hi + pad];
  };
  const xaxis = layout.xaxis || {}, yaxis = layout.yaxis || {};
  let [x0, x1] = extent('x', xaxis), [y0, y1] = extent('y', yaxis);
  let left = m.l, top = m.t, pw = Math.max(10, W - m.l - m.r), ph = Math.max(10, H - m.t - m.b);
  if (yaxis.scaleanchor === 'x') {  // equal axes: the x domain shrinks, the y range grows, as Plotly does
    const scale = Math.min(pw / (x1 - x0), ph / (y1 - y0));
    left += (pw - scale * (x1 - x0)) / 2; pw = scale * (x1 - x0);
    const grow = (ph / scale - (y1 - y0)) / 2; y0 -= grow; y1 += grow;
  }
  const px = (v) => left + ((v - x0) / (x1 - x0)) * pw, py = (v) => top + ph - ((v - y0) / (y1 - y0)) * ph;
  ctx.save();
  ctx.beginPath(); ctx.rect(left, top, pw, ph); ctx.clip();
  ctx.fillStyle = layout.plot_bgcolor || 'white';
  ctx.fillRect(left, top, pw, ph);
  for (const { t, x, y } of columns) {
    if (t.type === 'heatmap') {
      const z = numbers(t.z), n = x.length, rows = y.length;
      if (!n || !rows || z.length < n * rows) continue;
      let zmin = t.zmin ?? Infinity, zmax = t.zmax ?? -Infinity;
      if (t.zmin == null || t.zmax == null) for (const v of z) if (Number.isFinite(v)) {
        if (t.zmin == null) zmin = Math.min(zmin, v);
        if (t.zmax == null) zmax = Math.max(zmax, v);
      }
      const span = zmax - zmin || 1;
      const cells = document.createElement('canvas');
      cells.width = n; cells.height = rows;
      const image = cells.getContext('2d').createImageData(n, rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) {
        const u = Math.min(1, Math.max(0, (z[r * n + c] - zmin) / span)) * (VIRIDIS.length - 1);
        const k = Math.min(VIRIDIS.length - 2, Math.floor(u)), f = u - k, o = ((rows - 1 - r) * n + c) * 4;
        for (let ch = 0; ch < 3; ch++) image.data[o + ch] = VIRIDIS[k][ch] + f * (VIRIDIS[k + 1][ch] - VIRIDIS[k][ch]);
        image.data[o + 3] = 255;
      }
      cells.getContext('2d').putImageData(image, 0, 0);
      const dx = n > 1 ? (x[n - 1] - x[0]) / (n - 1) : 1, dy = rows > 1 ? (y[rows - 1] - y[0]) / (rows - 1) : 1;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(cells, px(x[0] - dx / 2), py(y[rows - 1] + dy / 2),
        px(x[n - 1] + dx / 2) - px(x[0] - dx / 2), py(y[0] - dy / 2) - py(y[rows - 1] + dy / 2));
    } else if ((t.mode || '').includes('lines') && x.length > 1) {
      const line = t.line || {};
      ctx.strokeStyle = line.color || '#1f77b4'; ctx.lineWidth = line.width || 2;
      ctx.setLineDash(line.dash === 'dash' ? [9, 5] : []);
      ctx.beginPath();
      for (let i = 0; i < x.length; i++) (i ? ctx.lineTo : ctx.moveTo).call(ctx, px(x[i]), py(y[i]));
      ctx.stroke();
    } else {
      const marker = t.marker || {}, r = (marker.size || 6) / 2;
      ctx.fillStyle = typeof marker.color === 'string' ? marker.color : '#1f77b4';
      for (let i = 0; i < x.length; i++) ctx.fillRect(px(x[i]) - r, py(y[i]) - r, 2 * r, 2 * r);
    }
  }
  ctx.restore();
  ctx.setLineDash([]);
  ctx.strokeStyle = '#bbb'; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, top + ph); ctx.lineTo(left + pw, top + ph); ctx.stroke();
  const font = (layout.font && layout.font.family) || 'sans-serif';
  ctx.fillStyle = '#444'; ctx.font = `13px ${font}`;
  const xt = niceTicks(x0, x1), yt = niceTicks(y0, y1);
  ctx.textAlign = 'center'; ctx.textBaseline = 'top';
  for (const v of xt.ticks) ctx.fillText(v.toFixed(xt.digits), px(v), top + ph + 6);
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  for (const v of yt.ticks) ctx.fillText(v.toFixed(yt.digits), left - 6, py(v));
  const title = layout.title && (layout.title.text ?? layout.title);
  if (typeof title === 'string') {
    ctx.textAlign = 'left'; ctx.textBaseline = 'middle'; ctx.fillStyle = '#222';
    const size = (layout.title.font && layout.title.font.size) || 18, lines = title.split('<br>');
    ctx.font = `${size}px ${font}`;
    lines.forEach((text, i) => ctx.fillText(text.replace(/<[^>]*>/g, ''), (layout.title.x ?? 0.02) * W,
      m.t / 2 + (i - (lines.length - 1) / 2) * size * 1.25));
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const gd = parentElement.querySelector('.realnvp-live-chart');
  gd.style.minHeight = (data.height || 420) + 'px';
  if (data.figure !== gd.__latest) {  // a rerun that did not change the figure costs nothing
    gd.__latest = data.figure;
    gd.__pending = data.figure;  // only the newest figure matters: skip any that arrive while one is drawn
  }
  if (gd.__pending && !gd.__drawnOnce && !(window.Plotly && window.Plotly.react)) {
    try {
      drawPreview(gd, JSON.parse(gd.__pending), data.height || 420);
    } catch (err) {
      console.error('live chart preview failed', err);
    }
  }
  if (gd.__pending && !gd.__busy) {
    gd.__busy = true;
    (async () => {
      const Plotly = await loadStreamlitPlotly(data.plotlyModule);
      if (!Plotly) { gd.__busy = false; setStateValue('missing', true); return; }
      const preview = gd.querySelector('canvas.realnvp-preview');
      if (preview) preview.remove();
      while (gd.__pending) {
        const figure = JSON.parse(gd.__pending);
        gd.__pending = null;
        fitTitle(figure.layout || (figure.layout = {}), gd.clientWidth);
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
          gd.__drawnOnce = true;
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
    _JS.split("// A preview drawn on a canvas")[0]
    + "export default function (component) { loadStreamlitPlotly(component.data.plotlyModule, 1500); }\n"
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
