"""RealNVP Playground — the Streamlit entry point: page config, navigation and the sidebar.

streamlit run app.py
"""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="RealNVP Playground", page_icon=":material/cyclone:", layout="wide")

from playground.components.layout import NARROW_SCREEN_CSS  # noqa: E402
from playground.components.live_chart import preload_plotly  # noqa: E402
from playground.components.talk import talk_mode  # noqa: E402
from playground.serving.runtime import configure_process, device_picker, run_page_safely  # noqa: E402

with st.sidebar:
    preload_plotly()  # the first element of every page: plotly.js loads while the rest of the page is built
    st.html(NARROW_SCREEN_CSS)  # phones: rows fold into grids, the Playground's controls go under its charts
configure_process()

HERE = Path(__file__).parent
PAGES = [  # (script, title, icon, url path); the first is the landing page
    ("pages/playground_page.py", "Playground", ":material/tune:", "start"),  # served at "/"; "start" is unused
    ("pages/layers.py", "Layer by layer", ":material/layers:", "layers"),
    ("pages/points.py", "Your own points", ":material/scatter_plot:", "points"),
    ("pages/race.py", "Race", ":material/sports_score:", "race"),
    ("pages/images.py", "Image flows", ":material/image:", "images"),
    ("pages/about.py", "What is this?", ":material/help:", "about"),
]
pages = [
    st.Page(script, title=title, icon=icon, url_path=url, default=(i == 0))
    for i, (script, title, icon, url) in enumerate(PAGES)
    if (HERE / script).exists()
]
# the landing page lives at "/", so a typed or shared /playground was "Page not found": the same page there too
pages.append(st.Page(PAGES[0][0], title=PAGES[0][1], icon=PAGES[0][2], url_path="playground", visibility="hidden"))
page = st.navigation(pages)

# Training runs only while its page is on screen: leaving a page pauses its model (kept in the session).
for key, title in (("playground", "Playground"), ("image-live", "Image flows"), ("race", "Race")):
    state = st.session_state.get(key)
    if state is not None and page.title != title and state.playing:
        state.stop_training()

st.sidebar.markdown("### RealNVP Playground")
device_picker()
talk_mode()  # ?talk=1 on any page, or the sidebar toggle: the presenter view
st.sidebar.page_link("pages/about.py", label="What is this?", icon=":material/help:")

run_page_safely(page)
