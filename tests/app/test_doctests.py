"""The app package's modules that are not Streamlit glue run their docstring examples too."""

import doctest
import importlib

import pytest

MODULES = [
    "playground.settings",
    "playground.serving.scheduler",
    "playground.serving.background",
    "playground.serving.workers",
    "playground.plots.live",
    "playground.plots.images",
    "playground.plots.layers",
    "playground.views.layers",
    "playground.views.points",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no docstring example"
