"""Toy contenders for tests/cli/test_bench_isolation.py, built inside worker processes.

Each function is a factory as ``fastnn.bench.isolate.Worker.setup`` calls it: it returns
the zero-argument runner a sample times.
"""

import os
import threading
import time


def sleeper(seconds=0.001):
    """A runner that sleeps: a sample of known length."""
    return lambda: time.sleep(seconds)


def logger(path, name):
    """A runner appending ``name`` to the file ``path`` (the order samples ran in)."""
    def run():
        with open(path, "a") as f:
            f.write(name + "\n")

    return run


def spinner_in_background():
    """A runner that does nothing, in a worker that has a thread spinning all along."""
    stop = threading.Event()
    threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)],
                     daemon=True).start()
    return lambda: None


def crasher(status=7):
    """A runner that kills its worker process on its first call."""
    return lambda: os._exit(status)


def raiser():
    """A runner that raises: the contender's own error, not the worker's."""
    def run():
        raise ValueError("toy failure")

    return run


def broken_factory():
    """A factory that raises while building the runner."""
    raise RuntimeError("cannot build the toy model")
