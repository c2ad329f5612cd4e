"""The Playground: pick data and an architecture, press Play, watch a RealNVP learn. Widgets → realnvp → figures.

Also the talk tools: the presenter view (``?talk=1``), keyboard shortcuts, the scene script, and follow links
(``/?follow=<id>`` shows a speaker's run read-only).

(The file is not named ``playground.py``: a page script run on its own puts ``pages/`` on ``sys.path``, where that
name would shadow the app's package ``playground``.)
"""

import streamlit as st

from playground.components.first_paint import painted_once
from playground.components.keyboard import LEGEND, keyboard_shortcuts
from playground.components.layout import arrows_row, side_by_side
from playground.components.live_view import BIG_FONT_CSS, LiveView
from playground.components.shell import ensure_app_shell
from playground.components.talk import follow_panel, follower_view
from playground.scenes import TALK_SCRIPT, SceneCursor, load_script, script_to_json
from playground.serving.runtime import current_device
from playground.settings import from_query, to_query
from playground.state import PlaygroundState

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

if st.query_params.get("follow"):  # a follower: the speaker's charts, read-only, and nothing else
    st.html(BIG_FONT_CSS)
    follower_view(str(st.query_params["follow"]))
    st.stop()

talk = bool(st.session_state.get("talk"))  # set by app.py from ?talk=1 or the sidebar toggle
st.html(BIG_FONT_CSS)

if "playground" not in st.session_state:  # first visit: the URL may carry a whole configuration
    settings, notes = from_query(st.query_params.to_dict())
    st.session_state["playground"] = PlaygroundState(
        settings=settings,
        device=current_device(),
        notice=("Some link parameters were adjusted: " + "; ".join(notes)) if notes else None,
    )
cursor: SceneCursor = st.session_state.setdefault("scenes", SceneCursor())


def publish_url(settings) -> None:
    query = to_query(settings)
    if talk:
        query["talk"] = "1"
    st.query_params.from_dict(query)


# presenter view: two equal square panels and the loss chart fit one screen (1920×1080 or 1280×720)
SCREENS = {
    "1920×1080": {"square_height": 470, "loss_height": 250},
    "1280×720": {"square_height": 285, "loss_height": 150},
}
if talk:
    st.sidebar.segmented_control("Screen", list(SCREENS), default="1920×1080", key="talk-screen")
heights = SCREENS.get(st.session_state.get("talk-screen") or "1920×1080", SCREENS["1920×1080"]) if talk else {}
view = LiveView(st.session_state["playground"], prefix="", widget_prefix="pg-", on_settings=publish_url, **heights)
publish_url(view.state.settings)


def go_to_scene(delta: int) -> None:
    scene = cursor.move(delta)
    view.apply_settings(scene.settings, None)
    if scene.page == "layers":
        st.session_state["open-layers-for-scene"] = True


keyboard_shortcuts(
    "talk-keys",
    {
        "play_pause": view.on_play_pause,
        "step": view.on_step,
        "reset": view.on_reset,
        "next_scene": lambda: go_to_scene(+1),
        "previous_scene": lambda: go_to_scene(-1),
    },
)
if st.session_state.pop("open-layers-for-scene", False):
    st.switch_page("pages/layers.py")


def scene_bar() -> None:
    c1, c2, c3 = arrows_row("scenes").columns([1, 10, 1], vertical_alignment="center")
    c1.button("◀", key="scene-prev", on_click=go_to_scene, args=(-1,), help="Previous scene (←)", width="stretch")
    c3.button("▶", key="scene-next", on_click=go_to_scene, args=(+1,), help="Next scene (→)", width="stretch")
    with c2.container(key="scene-caption"):
        if not cursor.active:
            st.caption(f"Talk script: {len(cursor.scenes)} scenes that tell the RealNVP story. Press → or ▶ to start.")
            return
        scene = cursor.scene
        st.markdown(f"**{scene.title}** ({cursor.index + 1}/{len(cursor.scenes)}) — {scene.caption}")
        if view.state.settings.needs_reset(scene.settings):
            st.caption(
                "The settings changed since this scene began, so its promise no longer applies (→ / ← to return)."
            )
        else:
            st.caption(f"Promise, measured for 10 seeds: {scene.promise.text()}.")


def script_tools() -> None:
    with st.expander("Talk script (scenes)"):
        st.markdown(
            "Scenes set up the Playground one step of the story at a time; → and ← move between them. Upload your "
            "own script as JSON (the template below is the shipped one)."
        )
        upload = st.file_uploader("Your talk script (.json)", type=["json"], key="scene-upload")
        if upload is not None and st.session_state.get("scene-upload-seen") != upload.file_id:
            st.session_state["scene-upload-seen"] = upload.file_id
            try:
                scenes = load_script(upload.getvalue().decode("utf-8", errors="replace"))
            except ValueError as err:
                st.error(f"That script was not loaded: {err}. The current scenes are kept.")
            else:
                st.session_state["scenes"] = SceneCursor(scenes)
                st.rerun()
        st.download_button(
            "Download the shipped script (template)",
            script_to_json(TALK_SCRIPT),
            file_name="realnvp-talk.json",
            mime="application/json",
            on_click="ignore",
            key="scene-template",
        )


FIRST_CHART = ".realnvp-live-chart canvas, .realnvp-live-chart .main-svg"
if talk:
    with st.sidebar:
        st.markdown(f"**Keys:** {LEGEND}")
        controls = st.container()
        with controls:  # as below: on a first visit, the charts are painted before the controls are drawn
            draw_controls = painted_once("pg-controls", after=FIRST_CHART)
        script_tools()
        broadcast = follow_panel()
    scene_bar()
    view.transport()
    view.broadcast, view.title = broadcast, cursor.scene.title
    view.live()
else:
    controls, main = side_by_side().columns([1, 3.2], gap="medium")  # on a phone: the charts first
    with controls:  # on a first visit, a placeholder until the browser has painted the numbers and the charts
        draw_controls = painted_once("pg-controls", after=FIRST_CHART)
    with main:
        scene_bar()
        view.transport()
        charts = st.container()
        st.caption(f"Keys: {LEGEND} · presenter view: `?talk=1` or the sidebar toggle")
        with st.expander("Export and share"):
            st.markdown(
                "This page's URL holds every setting and the seed: copy it to reproduce this run. The model file "
                "is safetensors with its JSON config embedded (`python -m realnvp sample model.safetensors`)."
            )
            view.downloads()
            broadcast = follow_panel()
        script_tools()
        view.broadcast, view.title = broadcast, cursor.scene.title
        with charts:
            view.live()
if draw_controls:  # drawn after the charts: a new visitor's browser has less to lay out before they are shown
    with controls:
        view.controls()
