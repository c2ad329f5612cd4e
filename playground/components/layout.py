"""Layouts that still read on a phone: rows that fold into a grid, and controls that go under the charts.

Streamlit stacks every group of columns one per line once the *viewport* is at most 640 px wide, so on a phone the
Playground's four transport buttons, its four numbers and its controls column (~25 widgets) each took a screen of
their own, and the first chart came 2.5 screens down. These container queries follow the width a group really has
(sidebar open or not) instead. The CSS is the app's own constant text, never anything a visitor typed.

Example::

    st.html(NARROW_SCREEN_CSS)
    controls, charts = side_by_side().columns([1, 3.2])
    buttons = folding_row("transport").columns(5)
    back, caption, forward = arrows_row("scenes").columns([1, 10, 1])
"""

from __future__ import annotations

import streamlit as st

__all__ = ["NARROW_SCREEN_CSS", "side_by_side", "folding_row", "arrows_row"]

_COLUMNS = '> [data-testid="stLayoutWrapper"] > [data-testid="stHorizontalBlock"] > [data-testid="stColumn"]'

NARROW_SCREEN_CSS = f"""<style>
[class*="st-key-side-by-side"], [class*="st-key-folding-row"], [class*="st-key-arrows-row"] {{
  container-type: inline-size;
}}
@container (max-width: 760px) {{
  [class*="st-key-side-by-side"] {_COLUMNS} {{ flex: 1 1 100% !important; width: 100% !important; min-width: 100% !important; }}
  [class*="st-key-side-by-side"] {_COLUMNS}:first-child {{ order: 2; }}
}}
@container (max-width: 560px) {{
  [class*="st-key-folding-row"] {_COLUMNS} {{
    flex: 1 1 calc(25% - 0.75rem) !important; width: calc(25% - 0.75rem) !important;
    min-width: calc(25% - 0.75rem) !important;
  }}
  [class*="st-key-folding-row"] {_COLUMNS}:nth-child(n+5) {{ flex-basis: 100% !important; min-width: 100% !important; }}
  [class*="st-key-folding-row"] .stButton button {{ padding-left: 0.25rem; padding-right: 0.25rem; }}
  [class*="st-key-arrows-row"] {_COLUMNS} {{ flex: 0 0 2.75rem !important; width: 2.75rem !important; min-width: 0 !important; }}
  [class*="st-key-arrows-row"] {_COLUMNS}:nth-child(2) {{ flex: 1 1 0 !important; width: auto !important; }}
}}
@container (max-width: 360px) {{
  [class*="st-key-folding-row"] {_COLUMNS} {{
    flex-basis: calc(50% - 0.5rem) !important; width: calc(50% - 0.5rem) !important;
    min-width: calc(50% - 0.5rem) !important;
  }}
}}
@media (hover: none) {{  /* a phone: Plotly shows its mode bar all the time there, over the chart's title */
  [data-testid="stPlotlyChart"] .modebar-container {{ display: none !important; }}
}}
</style>"""


def side_by_side(key: str = "main") -> st.delta_generator.DeltaGenerator:
    """A container for ``.columns([controls, charts])``: under 760 px wide (a phone, a tablet, half a screen) both
    take the whole width and the charts' column comes first, so nobody scrolls past the controls to see a chart."""
    return st.container(key=f"side-by-side-{key}")


def folding_row(key: str) -> st.delta_generator.DeltaGenerator:
    """A container for a row of up to four short columns (buttons, numbers) and an optional fifth: under 560 px wide
    the four share one line and the fifth goes under them (two per line under 360 px), instead of one per line."""
    return st.container(key=f"folding-row-{key}")


def arrows_row(key: str) -> st.delta_generator.DeltaGenerator:
    """A container for ``.columns([1, 10, 1])``: a button, a text, a button. Under 560 px wide they stay on one
    line, the buttons 2.75 rem wide and the text between them, instead of three lines."""
    return st.container(key=f"arrows-row-{key}")
