"""Long runs: many ``predict`` and ``fit`` calls in one process grow resident memory by
less than 5% after warm-up (and Python allocations by a few hundred KB at most), and
leak no threads or file descriptors.

Default suite: 2,000 predict + 10 fit calls.  ``pytest -m slow``: 100,000 + 200.
"""

import json
import os
import subprocess
import sys

import pytest

import fastnn

HERE = os.path.dirname(os.path.abspath(__file__))
# the directory holding the fastnn this test imported (the installed one in CI), so the
# worker never imports an unbuilt source tree
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
WORKER = os.path.join(HERE, "_long_run_worker.py")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self")


def run(predict_calls, fit_calls):
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, WORKER, str(predict_calls), str(fit_calls)],
                         capture_output=True, text=True, env=env, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    b, a = r["before"], r["after"]
    growth = (a["rss"] - b["rss"]) / b["rss"]
    traced = a["traced"] - b["traced"]
    print(f"\n[reliability] long run predict={predict_calls} fit={fit_calls} "
          f"rss_before={b['rss'] / 2**20:.1f}MiB rss_after={a['rss'] / 2**20:.1f}MiB "
          f"growth={100 * growth:.2f}% traced_growth={traced / 1024:.1f}KiB "
          f"threads={b['threads']}->{a['threads']} os_threads={b['os_threads']}->"
          f"{a['os_threads']} fds={b['fds']}->{a['fds']}")
    assert growth < 0.05, r
    assert traced < 512 * 1024, r
    assert a["threads"] == b["threads"], r
    assert a["os_threads"] <= b["os_threads"], r
    assert a["fds"] == b["fds"], r
    return r


def test_many_predict_and_fit_calls_do_not_leak():
    run(2_000, 10)


@pytest.mark.slow
def test_many_predict_and_fit_calls_do_not_leak_long():
    run(100_000, 200)
