"""The app's own package: what only the Streamlit app needs, one floor above the :mod:`realnvp` library.

- :mod:`playground.settings` — the Playground's settings, resource limits, presets and URL round trip;
- :mod:`playground.state` — the Playground's session state (settings + trainer + transport);
- :mod:`playground.serving` — process setup, the room's training-slot scheduler and the background trainer;
- :mod:`playground.plots` — Plotly figure builders (live charts, layer animation, image grids);
- :mod:`playground.views` — view models of the pages (layer analysis, point scoring);
- :mod:`playground.components` — Streamlit components and the live view.

It may import streamlit and plotly; :mod:`realnvp` never imports it.
"""
