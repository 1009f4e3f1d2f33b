"""The import graph: the callbacks never reach into the engine, and the engine's modules
import what they use at the top (no imports hidden in functions to dodge a cycle)."""

import ast
import os

import fastnn
from fastnn import callbacks

from subproc import run_python

PACKAGE_ROOT = os.path.dirname(os.path.abspath(fastnn.__file__))
CALLBACK_DIR = os.path.dirname(os.path.abspath(callbacks.__file__))


def _module_name(path):
    rel = os.path.relpath(path, os.path.dirname(PACKAGE_ROOT))
    parts = rel[:-len(".py")].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path):
    """(line, absolute module name) for every import in the file, wherever it is (inside
    functions too); ``from pkg import name`` yields ``pkg.name`` as well, since the name
    may be a submodule."""
    module = _module_name(path)
    is_package = os.path.basename(path) == "__init__.py"
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _function_level_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    lines = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines += [node.lineno for node in ast.walk(func)
                      if isinstance(node, (ast.Import, ast.ImportFrom))]
    return sorted(set(lines))


def _callback_modules():
    return sorted(os.path.join(CALLBACK_DIR, f) for f in os.listdir(CALLBACK_DIR)
                  if f.endswith(".py"))


def test_the_import_scanner_resolves_relative_imports():
    # the rule below is only as good as this resolution, so check it on known lines
    path = os.path.join(CALLBACK_DIR, "backup_and_restore.py")
    names = {name for _, name in _imported_modules(path)}
    assert "fastnn.utils.validation" in names and "fastnn.callbacks.callback" in names
    package = os.path.join(CALLBACK_DIR, "__init__.py")
    assert "fastnn.callbacks.early_stopping" in {n for _, n in _imported_modules(package)}
    trainer = os.path.join(PACKAGE_ROOT, "models", "trainer.py")
    names = {n for _, n in _imported_modules(trainer)}
    assert "fastnn.backend" in names  # from .. import backend
    assert "fastnn.models.saving" in names  # from . import saving


def test_callbacks_never_import_the_models():
    modules = _callback_modules()
    assert len(modules) >= 13  # one module per callback family, and the package
    offending = [
        f"{os.path.basename(path)}:{line} imports {name}"
        for path in modules
        for line, name in _imported_modules(path)
        if name == "fastnn.models" or name.startswith("fastnn.models.")
    ]
    assert offending == []


def test_callbacks_and_engine_import_at_the_top():
    paths = _callback_modules() + [
        os.path.join(PACKAGE_ROOT, "models", name) for name in ("trainer.py", "saving.py")
    ]
    hidden = {os.path.relpath(p, PACKAGE_ROOT): _function_level_imports(p) for p in paths}
    assert {p: lines for p, lines in hidden.items() if lines} == {}


def test_callbacks_import_in_a_fresh_interpreter():
    code = ("import fastnn.callbacks as c; from fastnn.callbacks import EarlyStopping, "
            "BackupAndRestore; print(' '.join(sorted(c.__all__)))")
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == sorted(callbacks.__all__)
