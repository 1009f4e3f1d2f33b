"""Data-parallel weak scaling of ``fit`` over MPI (``fastnn.distributed``).

Run it as a plain script from the repository root (needs ``pip install 'fastnn[mpi]'``):

    python benchmarks/bench_distributed.py [--samples-per-rank 128] [--steps 16]
        [--repeats 5] [--layers 784,500,500,10] [--json out.json]

It trains the seeds' 784-500-500-10 MLP (Adam, float32, synthetic data) four ways, each
in fresh processes: 1 rank x 1 thread at batch b; 2 ranks x 1 thread (``mpiexec -n 2``)
at global batch 2b, b rows per rank; 1 rank x 2 threads at batch 2b; and 2 ranks again
with the gradients summed by MPI ``Allreduce`` instead of shared memory.  It prints
samples/s, the share of a data-parallel step spent in the gradient Allreduce and in
packing the gradients into its buffer, and the weak-scaling ratio: the 2-rank samples/s
over twice the 1-rank-1-thread samples/s (the issue's target: at least 0.9).
``fastnn bench --only distributed`` runs the same measurement.  Run it on a quiet
machine: the ranks and threads need the cores to themselves.
"""

import argparse
import json
import os
import sys

# the checkout this script is in, before any installed fastnn
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_CHECKOUT, "fastnn", "__init__.py")):
    sys.path.insert(0, _CHECKOUT)

from fastnn.bench import distributed  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-per-rank", type=int, default=128)
    parser.add_argument("--steps", type=int, default=16, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs (median)")
    parser.add_argument("--layers", default="784,500,500,10")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    doc = distributed.measure(args.samples_per_rank, args.steps, args.repeats,
                              tuple(int(u) for u in args.layers.split(",")),
                              progress=lambda msg: print(msg, file=sys.stderr))
    print("\n".join(distributed.format_table(doc)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0 if doc["status"] == "ok" or doc["status"].startswith("skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
