"""FASTNN_DISABLE_SIMD is a yes/no switch: false-like words keep the SIMD kernel."""

import os

import pytest

from subproc import run_python

_gemm = pytest.importorskip("fastnn._native._gemm")

CODE = "from fastnn._native import _gemm; print(_gemm.kernel_name())"


def _kernel_with(value):
    env = {k: v for k, v in os.environ.items() if k != "FASTNN_DISABLE_SIMD"}
    if value is not None:
        env["FASTNN_DISABLE_SIMD"] = value
    out = run_python(["-W", "always", "-c", CODE], env=env)
    return out.stdout.strip(), out.stderr


@pytest.mark.skipif(os.environ.get("FASTNN_DISABLE_SIMD", "0") not in ("", "0")
                    or _gemm.kernel_name() == "portable",
                    reason="needs a CPU and a build with the SIMD kernel")
@pytest.mark.parametrize("value", [None, "", "0", "false", "False", "NO", "off"])
def test_false_like_values_keep_the_simd_kernel(value):
    kernel, err = _kernel_with(value)
    assert kernel != "portable" and "FASTNN_DISABLE_SIMD" not in err


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_true_values_disable_it_silently(value):
    kernel, err = _kernel_with(value)
    assert kernel == "portable" and "FASTNN_DISABLE_SIMD" not in err


def test_an_unknown_value_disables_it_with_a_warning():
    kernel, err = _kernel_with("maybe")
    assert kernel == "portable"
    assert "FASTNN_DISABLE_SIMD='maybe' is not one of" in err and "RuntimeWarning" in err
