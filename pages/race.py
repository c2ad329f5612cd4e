"""Race: train two to four flows side by side on the same data, split and seed, sharing the CPU fairly.

Storyboard only: the race runs in playground.serving.race, its configuration and URL live in playground.views.race.
"""

import streamlit as st

from playground.components.live_view import BIG_FONT_CSS
from playground.components.race import RaceView
from playground.components.shell import ensure_app_shell
from playground.serving.race import RaceState
from playground.serving.runtime import current_device
from playground.views.race import RACE_PRESETS, from_query, to_query

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

st.html(BIG_FONT_CSS)

if "race" not in st.session_state:  # first visit: the URL may carry a whole race
    config, notes = from_query(st.query_params.to_dict())
    preset = RACE_PRESETS.get(to_query(config).get("race", ""))
    st.session_state["race"] = RaceState(
        config=config,
        device=current_device(),
        notice=f"“{preset.title}”: {preset.what_to_watch}" if preset else None,
        notes=[f"Some link parameters were adjusted: {'; '.join(notes)}"] if notes else [],
    )


def publish_url(config) -> None:
    st.query_params.from_dict(to_query(config))


st.title("Race")
st.caption(
    "Every contestant trains on the same points, held-out split and seed; they take turns of equal CPU time on one "
    "thread, so steps/s is each one's own speed and the right-hand chart compares them at equal training seconds."
)
view = RaceView(st.session_state["race"], on_config=publish_url)
publish_url(view.state.config)
view.controls()
view.transport()
view.live()
