"""Run Python in a subprocess that imports the same fastnn as the test process.

The child runs in a temporary directory with PYTHONPATH pointing at the fastnn this
process imported, so it never picks up an unbuilt source tree from the working directory
(which is what happens in a clean clone with the package installed elsewhere).
"""

import os
import subprocess
import sys
import tempfile

import fastnn

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


def run_python(args, env=None, timeout=120, check=False):
    """``python *args`` with this fastnn importable; returns the CompletedProcess."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p
    )
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, check=check)
