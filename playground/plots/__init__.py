"""Plotly figure builders: live charts (:mod:`.live`), layer animation (:mod:`.layers`), image grids (:mod:`.images`)."""
