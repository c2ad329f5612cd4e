"""Keep every page inside the app shell (``app.py``), even when a page is the very first request of a server.

On a freshly started server Streamlit resolves the first request for ``/layers`` (or any path named like a file in
``pages/``) with its older pages-directory router: it runs ``pages/layers.py`` without ``app.py`` — no navigation,
no wide layout, no device picker. A page calls :func:`ensure_app_shell` before drawing anything: in that case it
switches the server to ``app.py``'s own navigation (which ``app.py`` would have done on its first run) and reruns,
so the same URL opens inside the shell.

:func:`remember_server` writes a cookie naming the server process that serves this browser (a tiny component, no
user text): the next session the browser opens, on whatever process, can tell whether that one is gone
(``playground.serving.runtime.restart_notice``).
"""

from __future__ import annotations

import streamlit as st

__all__ = ["ensure_app_shell", "remember_server"]


def ensure_app_shell() -> None:
    """Call first in every page script; does nothing when the page runs inside ``app.py``'s navigation."""
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit internals, pinned version (tested)

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what app.py's st.navigation sets on its first run
        st.rerun()


_COOKIE_JS = """
export default function ({ data }) {
  // the name and value are the app's own constants (an id of hex digits), never user text
  document.cookie = `${data.name}=${data.value}; Path=/; SameSite=Lax`;
}
"""
_cookie_writer = st.components.v2.component("realnvp_server_cookie", html="<span></span>", js=_COOKIE_JS)


def remember_server(cookie: str, value: str) -> None:
    """Set the browser cookie ``cookie`` to ``value`` (in the sidebar: an element of no height)."""
    with st.sidebar:
        _cookie_writer(data={"name": cookie, "value": value}, key=f"{cookie}-writer", height=0)
