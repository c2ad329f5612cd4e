"""Keep every page inside the app shell (``app.py``), even when a page is the very first request of a server.

On a freshly started server Streamlit resolves the first request for ``/layers`` (or any path named like a file in
``pages/``) with its older pages-directory router: it runs ``pages/layers.py`` without ``app.py`` — no navigation,
no wide layout, no device picker. A page calls :func:`ensure_app_shell` before drawing anything: in that case it
switches the server to ``app.py``'s own navigation (which ``app.py`` would have done on its first run) and reruns,
so the same URL opens inside the shell.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["ensure_app_shell"]


def ensure_app_shell() -> None:
    """Call first in every page script; does nothing when the page runs inside ``app.py``'s navigation."""
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit internals, pinned version (tested)

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what app.py's st.navigation sets on its first run
        st.rerun()
