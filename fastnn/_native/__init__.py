"""Compiled extensions (Cython wrappers over ``csrc/``).  Import them through
``fastnn.backend``.  Each entry checks its ndarray arguments itself (``_arrays.pxi``)
and computes nothing, returning NOT_TAKEN, when they do not fit.

Wait policy: after a parallel region, an idle OpenMP worker spins GOMP_SPINCOUNT times
before it sleeps on a futex.  Spinning answers the next region at once; sleeping costs a
futex wake (7-30 us in this VM); but a spinning worker holds a core, and when another
process holds the other core, a thread spinning for a partner that is not running burns
its time slice.  We set GOMP_SPINCOUNT=1000, before libgomp loads, unless the user chose
OMP_WAIT_POLICY or GOMP_SPINCOUNT.  Measured on the 2-core Zen VM, busy with other work
(load average ~5): the time of an empty 2-thread ``omp parallel`` region entered after
a busy gap on the calling thread (a C probe; medians of 200):

    gap before region        10 us    90 us   270 us   810 us
    GOMP_SPINCOUNT=1000      0.6 us   8.7 us  10.7 us  12.1 us
    GOMP_SPINCOUNT=10000     0.6 us   0.6 us   566 us   570 us
    OMP_WAIT_POLICY=PASSIVE  15 us    23 us    24 us    27 us
    libgomp default (300k)   16 ms typical: a whole scheduler slice, spin vs. spin

1000 spins last ~10-30 us: the kernels of one training step (a few us of Python apart)
reuse a spinning worker, and a worker releases its core within tens of us.  10000 spins
(~100 us) held the core long enough to be preempted and cost 0.5 ms per region under
contention.  Training the 784-500-500-10 MLP at batch 256 on 2 threads
(benchmarks/bench_contention.py, machine shared, 2 rounds): spin 1000 matched spin
10000 (0.96-0.98x, within noise) with no competing process and beat it by 8% beside one
busy-looping process; libgomp's default ran at 0.39-0.45x; PyTorch with its default
libgomp at 0.13x, and 4.5x faster with PASSIVE.  Adapting the thread count was not
worth it: one thread beside a competitor (2103 samples/s) was not clearly better than two
with this policy (2007).
"""

import os
import warnings

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"

# FASTNN_DISABLE_SIMD is read in C (csrc/gemm/gemm.c, fnn_simd_disabled_by_env): these
# words keep the SIMD kernel, these disable it, and anything else disables it too, with
# this warning, because the user set the variable for a reason but not to a known word.
SIMD_SWITCH_KEEP = ("", "0", "false", "no", "off")
SIMD_SWITCH_DISABLE = ("1", "true", "yes", "on")
_simd_switch = os.environ.get("FASTNN_DISABLE_SIMD")
if _simd_switch is not None and _simd_switch.lower() not in (
        SIMD_SWITCH_KEEP + SIMD_SWITCH_DISABLE):
    warnings.warn(
        f"FASTNN_DISABLE_SIMD={_simd_switch!r} is not one of "
        f"{', '.join(repr(v) for v in SIMD_SWITCH_DISABLE)} (disable) or "
        f"{', '.join(repr(v) for v in SIMD_SWITCH_KEEP)} (keep); the SIMD kernels are "
        "disabled.",
        RuntimeWarning,
        stacklevel=2,
    )
