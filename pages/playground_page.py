"""The Playground: pick data and an architecture, press Play, watch a RealNVP learn. Widgets → realnvp → figures.

(The file is not named ``playground.py``: a page script run on its own puts ``pages/`` on ``sys.path``, where that
name would shadow the app's package ``playground``.)
"""

import streamlit as st

from playground.components.live_view import BIG_FONT_CSS, LiveView
from playground.components.shell import ensure_app_shell
from playground.serving.runtime import current_device
from playground.settings import from_query, to_query
from playground.state import PlaygroundState

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

st.html(BIG_FONT_CSS)

if "playground" not in st.session_state:  # first visit: the URL may carry a whole configuration
    settings, notes = from_query(st.query_params.to_dict())
    st.session_state["playground"] = PlaygroundState(
        settings=settings,
        device=current_device(),
        notice=("Some link parameters were adjusted: " + "; ".join(notes)) if notes else None,
    )


def publish_url(settings) -> None:
    st.query_params.from_dict(to_query(settings))


view = LiveView(st.session_state["playground"], prefix="", widget_prefix="pg-", on_settings=publish_url)
publish_url(view.state.settings)

controls, main = st.columns([1, 3.2], gap="medium")
with controls:
    view.controls()
with main:
    view.transport()
    view.live()
    with st.expander("Export and share"):
        st.markdown(
            "This page's URL holds every setting and the seed: copy it to reproduce this run. The model file is "
            "safetensors with its JSON config embedded (`python -m realnvp sample model.safetensors`)."
        )
        view.downloads()
