"""Keyboard shortcuts for a talk: Space = Play/Pause, S = Step, R = Reset, → / ← = next / previous scene.

A Streamlit custom component v2 (no build step, no iframe): one ``keydown`` listener on the page, installed once,
reports each shortcut as a trigger value ``{"key": ..., "n": ...}``. Why not ``st.button(shortcut=...)``: Streamlit
reserves R (it reruns the app), and Space should toggle Play/Pause rather than press one button. Keys typed into a
text field, a number input or a select are left alone, and so are keys pressed with Ctrl/Cmd/Alt (the browser's own
shortcuts). Only key names cross from the page to Python.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["keyboard_shortcuts", "SHORTCUTS", "LEGEND"]

#: key (as ``KeyboardEvent.key``, lower-cased for letters) -> the action the page performs
SHORTCUTS = {" ": "play_pause", "s": "step", "r": "reset", "arrowright": "next_scene", "arrowleft": "previous_scene"}
LEGEND = "Space play/pause · S step · R reset · → next scene · ← previous scene"

_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  window.__realnvpShortcutTrigger = setTriggerValue;  // the newest mount reports; one listener for the page
  window.__realnvpShortcutKeys = data.keys;
  if (window.__realnvpShortcutsInstalled) return;
  window.__realnvpShortcutsInstalled = true;
  window.__realnvpShortcutCount = 0;
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    const tag = (target && target.tagName || '').toLowerCase();
    const role = target && target.getAttribute ? target.getAttribute('role') : null;
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || (target && target.isContentEditable)
        || role === 'combobox' || role === 'slider' || role === 'spinbutton') return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key.toLowerCase();
    if (!(window.__realnvpShortcutKeys || []).includes(key)) return;
    event.preventDefault();
    event.stopImmediatePropagation();  // before Streamlit's own R = rerun, and no page scroll on Space
    window.__realnvpShortcutCount += 1;
    window.__realnvpShortcutTrigger('key', { key: key, n: window.__realnvpShortcutCount });
  }, true);
}
"""

_component = st.components.v2.component("realnvp_keyboard", html="<span></span>", js=_JS)


def keyboard_shortcuts(key: str, actions: dict[str, callable]) -> str | None:
    """Listen for the talk shortcuts; call ``actions[action]()`` for a pressed key. Returns the action, or None.

    Place it before the widgets the actions change: the action runs at the top of the rerun the key press caused.
    Actions missing from ``actions`` are ignored (their keys pass through to the page).
    """
    keys = [k for k, action in SHORTCUTS.items() if action in actions]
    result = _component(data={"keys": keys}, key=key, on_key_change=lambda: None)
    pressed = getattr(result, "key", None)
    if not isinstance(pressed, dict):
        return None
    action = SHORTCUTS.get(str(pressed.get("key")))
    if action in actions:
        actions[action]()
        return action
    return None
