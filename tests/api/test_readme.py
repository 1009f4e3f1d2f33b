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
