"""View models for the pages: numbers a page draws, computed from the library (no Streamlit)."""
