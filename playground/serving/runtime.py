"""Process-wide setup for serving the app, and the device picker. Streamlit glue only, no maths."""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time
import uuid

import streamlit as st
import torch

from playground.components.shell import remember_server
from playground.serving.scheduler import TrainingSlots
from playground.serving.workers import TrainingPool

__all__ = [
    "configure_process",
    "available_devices",
    "device_picker",
    "current_device",
    "training_slots",
    "training_pool",
    "session_id",
    "run_page_safely",
    "restart_notice",
    "SERVER_BOOT_ID",
    "SERVER_COOKIE",
]

# Who this server process is: a fresh id each time the process starts (replicas and restarts differ).
SERVER_BOOT_ID = uuid.uuid4().hex
SERVER_COOKIE = "realnvp_server"
RESTART_NOTICE_SECONDS = 20.0  # how long a new session keeps showing the notice
RESTART_NOTICE = "This server restarted, so your previous run is gone: press ▶ Play to start again."


def switch_interval_s() -> float:
    """How long a thread may hold the GIL while others wait (env REALNVP_SWITCH_INTERVAL_MS; Python's default 5 ms)."""
    raw = os.environ.get("REALNVP_SWITCH_INTERVAL_MS", "")
    try:
        return max(0.05, min(float(raw), 50.0)) / 1000 if raw else sys.getswitchinterval()
    except ValueError:
        return sys.getswitchinterval()


@st.cache_resource(show_spinner=False)
def configure_process() -> bool:
    """Once per server process: one torch thread per training session, and freeze the heavy imports for the GC.

    On 2 shared cores, two torch threads per session oversubscribe the CPU (measured 10–50× slower); and after
    torch + scikit-learn are imported every full GC pass walks ~300k objects unless they are frozen.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(1)
    sys.setswitchinterval(switch_interval_s())
    import playground.plots.live  # noqa: F401  (import the heavy modules before freezing)
    import realnvp.training  # noqa: F401

    gc.collect()
    gc.freeze()
    training_pool()  # start the training workers (if any) now, so they are ready by the first Play
    return True


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def current_device() -> str:
    device = st.session_state.get("device", "cpu")
    return device if device in available_devices() else "cpu"


def device_picker() -> str:
    """Sidebar radio of the devices this server has; the choice lives in ``st.session_state['device']``."""
    devices = available_devices()
    labels = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple MPS"}
    if st.session_state.get("device") not in devices:
        st.session_state["device"] = "cpu"
    st.sidebar.radio(
        "Device",
        devices,
        key="device",
        format_func=lambda d: labels.get(d, d),
        help="Where new models train. Only devices this server has are listed.",
    )
    device = current_device()
    detail = torch.cuda.get_device_name(0) if device == "cuda" else ("1 thread" if device == "cpu" else "")
    st.sidebar.caption(f"In use: **{labels[device]}**{' · ' + detail if detail else ''}")
    return device


@st.cache_resource(show_spinner=False)
def training_slots() -> TrainingSlots:
    """The server-wide cap on sessions training at once (env REALNVP_TRAINING_SLOTS).

    Default: with training worker processes (:func:`training_pool`), one per process; without, one core fewer
    than the machine has (at least 1, at most 8) — the last core serves pages, so a room of visitors never starves
    a newcomer's first page load.
    """
    processes = max(0, min(_int_env("REALNVP_TRAINING_PROCESSES", 0), 16))
    capacity = _int_env("REALNVP_TRAINING_SLOTS", 0) or processes or max(1, min((os.cpu_count() or 1) - 1, 8))
    return TrainingSlots(capacity=capacity, quantum=5.0, lease=3.0)


@st.cache_resource(show_spinner=False)
def training_pool() -> TrainingPool | None:
    """The server's training worker processes (env REALNVP_TRAINING_PROCESSES; 0 or unset: train in threads).

    Workers run at a lower CPU priority (env REALNVP_WORKER_NICE, default 10) than the server, so serving pages
    comes first. Sessions train in place until the workers have started.
    """
    processes = _int_env("REALNVP_TRAINING_PROCESSES", 0)
    if processes <= 0:
        return None
    pool = TrainingPool(processes=min(processes, 16), nice=_int_env("REALNVP_WORKER_NICE", 10))
    atexit.register(pool.close)
    return pool


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def session_id() -> str:
    """A stable id for this browser session (used for the training-slot queue)."""
    if "session-id" not in st.session_state:
        st.session_state["session-id"] = uuid.uuid4().hex
    return st.session_state["session-id"]


def restart_notice() -> None:
    """Once per browser session: tell a visitor whose last session lived in a server process that is gone.

    Streamlit keeps a session (its model, uploads, media) in the memory of one process. When that process stops
    (a replica stopped or restarted, the load balancer moving the browser to another replica), the browser
    reconnects and gets a new, empty session. The browser carries a cookie naming the process that served it
    last (:data:`SERVER_BOOT_ID`, written here on every session's first run); a session that arrives with another
    process's id shows :data:`RESTART_NOTICE` on its runs of the next :data:`RESTART_NOTICE_SECONDS` (a timed
    rerun right after the reconnect would otherwise wipe it before anyone read it), then the cookie names this
    process.
    """
    if not st.session_state.get("server-checked"):
        st.session_state["server-checked"] = True
        previous = st.context.cookies.get(SERVER_COOKIE)
        if previous and previous != SERVER_BOOT_ID:
            st.session_state["restart-notice-until"] = time.monotonic() + RESTART_NOTICE_SECONDS
        remember_server(SERVER_COOKIE, SERVER_BOOT_ID)
    with st.container():  # always drawn: the notice leaving after its seconds must not move the page under it
        if time.monotonic() < st.session_state.get("restart-notice-until", 0.0):
            st.info(RESTART_NOTICE, icon=":material/restart_alt:")


def run_page_safely(page) -> None:
    """Run a page (after :func:`restart_notice`); a bug in it shows a friendly message instead of a traceback,
    and the session is kept."""
    restart_notice()
    try:
        page.run()
    except Exception as err:  # st.rerun/st.stop are BaseExceptions and pass through untouched
        st.error(
            f"Something went wrong on this page ({type(err).__name__}). Your models and settings are kept: "
            "try again, or switch to another page.",
            icon=":material/error:",
        )
        with st.expander("Details for a bug report"):
            st.code(f"{type(err).__name__}: {err}", language=None, wrap_lines=True)
