"""The Play / Pause / Step / Reset row every live page shares (Playground, Image flows' Train live, Race).

Widget keys are ``<prefix>play``, ``<prefix>pause``, ``<prefix>step`` and ``<prefix>reset``: the Playground's
(prefix ``""``) are the stable test hooks ``play``, ``pause``, ``step``, ``reset``.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from playground.components.layout import folding_row

__all__ = ["notice_slot", "queue_notice", "transport_row"]


def queue_notice(playing: bool, queue_position: int) -> None:
    """The room's notice for a playing session that waits for a training slot (position 0: training now)."""
    if playing and queue_position > 0:
        st.info(
            f"Waiting for a free training slot ({queue_position - 1} ahead of you). The server shares its CPU "
            "between visitors in turns; this resolves by itself.",
            icon=":material/hourglass_top:",
        )


def notice_slot():
    """A container drawn on every run where notices may appear; use it as ``with notice_slot(): if ...: st.info(...)``.

    A notice that comes or goes inside it never moves what follows it. Streamlit addresses each element by its
    position, and a timed fragment's late updates can arrive after the page's layout changed: with a bare
    conditional ``st.info`` before a row of charts, an update meant for the charts could land on the notice, and
    Streamlit's frontend blanked the whole page ("'setIn' cannot be called on an ElementNode", seen in a busy room).
    """
    return st.container()


def transport_row(
    prefix: str,
    playing: bool,
    on_play: Callable[[], None],
    on_pause: Callable[[], None],
    on_step: Callable[[], None],
    on_reset: Callable[[], None],
    step_help: str = "Train one chunk, then pause",
    running_label: str = "training…",
    status_width: float = 2,
) -> None:
    """Draw the four transport buttons and the playing/paused label, Play highlighted while paused."""
    buttons = folding_row(f"{prefix}transport").columns([1, 1, 1, 1, status_width])
    buttons[0].button(
        "Play",
        key=f"{prefix}play",
        icon=":material/play_arrow:",
        on_click=on_play,
        type="secondary" if playing else "primary",
        width="stretch",
    )
    buttons[1].button("Pause", key=f"{prefix}pause", icon=":material/pause:", on_click=on_pause, width="stretch")
    buttons[2].button(
        "Step", key=f"{prefix}step", icon=":material/skip_next:", on_click=on_step, width="stretch", help=step_help
    )
    buttons[3].button("Reset", key=f"{prefix}reset", icon=":material/restart_alt:", on_click=on_reset, width="stretch")
    with buttons[4]:
        st.markdown(f":green[**{running_label}**]" if playing else ":gray[paused]")
