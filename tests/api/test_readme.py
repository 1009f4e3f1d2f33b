"""The README's Python snippets run as written, in order, as a new user would paste them."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def _snippets():
    if not os.path.exists(README):  # an installed test tree without the README
        return []
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_the_readme_has_python_snippets():
    if not os.path.exists(README):
        pytest.skip("README.md is not beside the tests")
    assert len(_snippets()) >= 2


def test_readme_snippets_run_in_order(tmp_path, monkeypatch):
    snippets = _snippets()
    if not snippets:
        pytest.skip("README.md is not beside the tests")
    monkeypatch.chdir(tmp_path)  # the first snippet saves a model file
    namespace = {}
    for i, code in enumerate(snippets):
        exec(compile(code, f"README.md python snippet {i + 1}", "exec"), namespace)
    assert "model" in namespace


def test_the_layers_row_names_every_layer():
    # The README's feature table has one "| layers | ... |" row; it abbreviates the 1-D
    # twin of a 2-D layer as "`MaxPooling2D`/`1D`".
    if not os.path.exists(README):
        pytest.skip("README.md is not beside the tests")
    from fastnn import layers

    with open(README, encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| layers |")]
    assert len(rows) == 1
    named = set(re.findall(r"`(\w+)`", rows[0]))
    named |= {a.replace("2D", "1D") for a, b in re.findall(r"`(\w+2D)`/`(1D)`", rows[0])}
    missing = {name for name in layers.REGISTRY if name not in named}
    assert not missing, f"layers missing from the README's table: {sorted(missing)}"
