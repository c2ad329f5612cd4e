"""Streamlit components: the in-place live chart, the click canvas, the app shell guard and the live view."""
