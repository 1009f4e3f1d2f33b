"""Smoke test of an installed fastnn wheel: run it with the venv's python, from a folder
outside the source tree (CI's .ci/run and cibuildwheel's test-command do).

It checks what a user of the wheel relies on: fastnn imports from site-packages, not from
a checkout; the native backend loaded with OpenMP and a GEMM micro-kernel; on Linux the
OpenMP runtime in use is the copy the wheel bundles; ``fastnn info`` (the console script)
runs and says the install is a wheel; and a short ``fit`` lowers the loss.

Usage: python tools/wheel_smoke.py [--expect-kernel avx512|avx2-fma|portable]
"""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(condition, message):
    if not condition:
        sys.exit(f"wheel smoke test FAILED: {message}")


def loaded_libraries():
    """Paths of the shared libraries mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as f:
            return {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return set()


def check_install(fastnn):
    from fastnn.info import config_dict

    package_dir = os.path.dirname(os.path.abspath(fastnn.__file__))
    check(not package_dir.startswith(REPO_ROOT + os.sep),
          f"fastnn was imported from the source tree ({package_dir}), not the wheel")
    facts = config_dict()
    check(facts["native_available"], "the native extensions did not load")
    check(facts["backend"] == "native", f"backend is {facts['backend']!r}, not native")
    check(facts["openmp"] is True, "the extensions were built without OpenMP")
    check(facts["simd_kernel"] in ("avx512", "avx2-fma", "portable"),
          f"unknown GEMM kernel {facts['simd_kernel']!r}")
    check(facts["install"].startswith("wheel"), f"install says {facts['install']!r}")
    bundled = os.path.join(os.path.dirname(package_dir), "fastnn.libs")
    if sys.platform.startswith("linux") and os.path.isdir(bundled):
        gomp = sorted(p for p in loaded_libraries() if "libgomp" in os.path.basename(p))
        check(gomp and all(p.startswith(bundled + os.sep) for p in gomp),
              f"the OpenMP runtime in use is {gomp}, not the copy in {bundled}")
    return facts


def check_console_script():
    script = shutil.which("fastnn", path=os.path.dirname(sys.executable))
    check(script is not None, f"no fastnn console script beside {sys.executable}")
    out = subprocess.run([script, "info"], capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, f"fastnn info failed: {out.stderr}")
    print(out.stdout, end="")
    for key in ("openmp: True", "simd_kernel:", "install: wheel"):
        check(key in out.stdout, f"fastnn info does not say {key!r}")


def check_fit(fastnn):
    from fastnn import layers

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 20)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int64")
    model = fastnn.Sequential([layers.Dense(64, activation="relu", input_shape=(20,)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    losses = history.history["loss"]
    check(all(np.isfinite(losses)), f"non-finite losses {losses}")
    check(losses[-1] < losses[0], f"the loss did not fall: {losses}")
    print(f"fit: loss {losses[0]:.4f} -> {losses[-1]:.4f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-kernel", choices=("avx512", "avx2-fma", "portable"),
                        help="fail unless the GEMM runs this micro-kernel")
    args = parser.parse_args(argv)
    import fastnn

    facts = check_install(fastnn)
    if args.expect_kernel:
        check(facts["simd_kernel"] == args.expect_kernel,
              f"kernel {facts['simd_kernel']!r}, expected {args.expect_kernel!r}")
    check_console_script()
    check_fit(fastnn)
    print("wheel smoke test passed")


if __name__ == "__main__":
    main()
