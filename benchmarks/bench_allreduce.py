"""Micro-benchmark: the ways of summing one data-parallel step's buffer over the ranks.

Run under MPI from the repository root (needs ``pip install 'fastnn[mpi]'``):

    mpiexec -n 2 python benchmarks/bench_allreduce.py [--elements 648015]
        [--dtype float32] [--rounds 300]

The buffer defaults to the 784-500-500-10 MLP's step buffer (648,010 gradients, the
loss and 4 metric-state values).  Each way starts from the gradients as separate
arrays, as the backward pass leaves them, and ends with the sum readable on every
rank:

- ``pack + Allreduce``: copy into a private buffer, ``MPI_Allreduce`` in place (the
  ``FASTNN_DISTRIBUTED_REDUCTION=allreduce`` path);
- ``Allreduce alone``: the same without the copy (a lower bound for that path);
- ``shared memory``: ``fastnn.distributed``'s ``NodeReducer``, the default on one
  node: copy into this rank's slot of the node's shared segment, barrier, each rank
  sums its 1/P slice over the slots, barrier;
- ``2 barriers``: the synchronisation that costs, alone.

The ways alternate within each round, so that a busy machine slows them alike, and
each one's best round (the slowest rank's time, a barrier apart) is printed.  Set
MPICH's ``MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM`` (``auto``, ``reduce_scatter_allgather``,
``ring``, ...) to compare Allreduce's algorithms.  Both results are checked equal.
"""

import argparse
import os
import sys
import time

# the checkout this script is in, before any installed fastnn
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_CHECKOUT, "fastnn", "__init__.py")):
    sys.path.insert(0, _CHECKOUT)

import numpy as np  # noqa: E402

MLP_PIECES = (784 * 500, 500, 500 * 500, 500, 500 * 10, 10, 1, 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=sum(MLP_PIECES))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    from mpi4py import MPI

    from fastnn.distributed._shared_memory import NodeReducer

    comm = MPI.COMM_WORLD
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    pieces = (MLP_PIECES if args.elements == sum(MLP_PIECES)
              else (args.elements // 2, args.elements - args.elements // 2))
    rng = np.random.default_rng(comm.Get_rank())
    grads = [rng.normal(size=n).astype(args.dtype) for n in pieces]
    private = np.zeros(args.elements, args.dtype)
    reducer = NodeReducer(comm, node)
    slots, result = reducer.buffers(args.elements, args.dtype)

    def pack(dst):
        offset = 0
        for g in grads:
            dst[offset:offset + g.size] = g
            offset += g.size

    def pack_allreduce():
        pack(private)
        comm.Allreduce(MPI.IN_PLACE, private, op=MPI.SUM)

    def allreduce_alone():
        comm.Allreduce(MPI.IN_PLACE, private, op=MPI.SUM)

    def shared_memory():
        pack(slots[reducer.local_rank])
        reducer.reduce(slots, result)

    def barriers():
        reducer._sync()
        reducer._sync()

    ways = {"pack + Allreduce": pack_allreduce, "Allreduce alone": allreduce_alone,
            "shared memory (NodeReducer)": shared_memory, "2 barriers": barriers}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(args.rounds):
        for name, way in ways.items():
            comm.Barrier()
            start = time.perf_counter()
            way()
            elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
            best[name] = min(best[name], elapsed)
    pack_allreduce()
    shared_memory()
    same = comm.allreduce(bool(np.array_equal(private, result)), op=MPI.LAND)
    if comm.Get_rank() == 0:
        algorithm = os.environ.get("MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM", "auto")
        print(f"{comm.Get_size()} ranks ({node.Get_size()} on this node), "
              f"{args.elements} x {args.dtype} = {private.nbytes / 1e6:.2f} MB, "
              f"best of {args.rounds} rounds, Allreduce algorithm {algorithm}:")
        for name, seconds in best.items():
            print(f"  {name:<30} {seconds * 1e3:8.3f} ms")
        print(f"  results equal: {same}")
    reducer.free()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
