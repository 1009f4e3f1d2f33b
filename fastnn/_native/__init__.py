"""Compiled extensions (Cython wrappers over ``csrc/``).  Import them through
``fastnn.backend``; they trust their inputs and validate nothing.

Wait policy: idle OpenMP threads spin before they sleep.  libgomp's default spin (about
300,000 iterations) keeps a core busy for a while after every parallel region, which
steals that core from other processes on a shared machine and slows *us* down badly when
another process holds a core (a spinning thread waits for a thread that is not running).
We set a short spin instead, before libgomp is loaded, unless the user chose a policy.
The measured effect is in the README's performance section.
"""

import os

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"
