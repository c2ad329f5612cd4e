"""Every module of the library runs its docstring examples (the `>>>` lines are part of the documentation)."""

import doctest
import importlib
import pkgutil

import pytest

import realnvp

MODULES = sorted(
    ["realnvp"] + [m.name for m in pkgutil.walk_packages(realnvp.__path__, "realnvp.") if m.name != "realnvp.__main__"]
)


def test_the_walk_finds_the_whole_library():
    assert {"realnvp.flow", "realnvp.coupling", "realnvp.norm", "realnvp.datasets.points", "realnvp.image.flow"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no docstring example"
