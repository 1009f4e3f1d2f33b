"""An invalid ``FASTNN_BACKEND``: ``fastnn info`` still prints its configuration and says
what is wrong; code that needs a backend gets the clear ValueError."""

import os

from subproc import run_python

VALID = "must be one of numpy, native, or unset for the default"


def _env(value):
    env = dict(os.environ)
    env["FASTNN_BACKEND"] = value
    return env


def test_info_reports_an_invalid_backend_and_the_rest_of_its_configuration():
    result = run_python(["-m", "fastnn", "info"], env=_env("Bogus"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"backend: none: FASTNN_BACKEND {VALID}" in result.stdout
    assert "FASTNN_BACKEND='Bogus'" in result.stdout  # the value as given
    for key in ("fastnn:", "numpy:", "native_available:", "num_threads:"):
        assert key in result.stdout


def test_training_with_an_invalid_backend_raises_the_clear_error():
    code = ("import numpy as np, fastnn\n"
            "m = fastnn.Sequential([fastnn.layers.Dense(2, input_dim=2)])\n"
            "m.compile('sgd', 'mse')\n"
            "try:\n"
            "    m.fit(np.zeros((2, 2)), np.zeros((2, 2)), verbose=0)\n"
            "except ValueError as exc:\n"
            "    print('ValueError:', exc)\n")
    result = run_python(["-c", code], env=_env("bogus"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"ValueError: FASTNN_BACKEND {VALID}. Received: FASTNN_BACKEND='bogus'" in (
        result.stdout)


def test_info_names_a_valid_backend_as_before():
    result = run_python(["-m", "fastnn", "info"], env=_env("numpy"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backend: numpy" in result.stdout
