"""Data-parallel training over MPI: the same script on every rank, one line to opt in.

    import fastnn
    fastnn.distributed.initialize()   # a no-op (size 1) outside mpiexec / srun
    model.fit(x, y, batch_size=256)   # batch_size is the global batch

Run it with ``mpiexec -n 4 python train.py`` (or ``srun``).  Every rank passes the same
data; ``fit`` and ``evaluate`` split each global batch into one share per rank and sum
the ranks' contributions with one ``Allreduce`` per step (see ``_data_parallel``).  The
semantics are written down in ``docs/distributed.md``.

mpi4py is imported by ``initialize`` only, never by ``import fastnn``; it is the
optional extra ``pip install 'fastnn[mpi]'``, which also brings the ``mpich`` wheel.
"""

import os
import sys
import traceback
import weakref

from .. import threads as _threads

_INSTALL_HINT = (
    "fastnn.distributed needs mpi4py: pip install 'fastnn[mpi]' (it also installs the "
    "mpich wheel, so that mpiexec works without a system MPI; an mpi4py built against "
    "a system MPI is used as it is)."
)

# Variables that an MPI launcher sets in the processes it starts: mpiexec (MPICH hydra,
# Intel MPI: PMI_*; Open MPI: OMPI_*; PMIx launchers: PMIX_RANK) and Slurm's srun
# (SLURM_STEP_ID is set only inside a job step, not in the batch script itself).
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                       "SLURM_STEP_ID")


class _World:
    """The communicators of an initialized run (one per process)."""

    def __init__(self, comm, node_comm):
        self.comm = comm            # every rank (a duplicate of COMM_WORLD)
        self.node_comm = node_comm  # the ranks sharing this node's memory
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.local_size = node_comm.Get_size()
        # one choice for the whole job (every rank must take part in the same calls):
        # shared memory as soon as any node holds several ranks
        self.reduction = _reduction_setting(comm.allreduce(self.local_size, op=_max_op()))
        self._reducer = None

    def reducer(self):
        """The ``NodeReducer`` the step reductions go through, or None for one plain
        ``Allreduce`` per step (made on first use: its creation is collective)."""
        if self.reduction != "shared":
            return None
        if self._reducer is None:
            from ._shared_memory import NodeReducer

            self._reducer = NodeReducer(self.comm, self.node_comm)
        return self._reducer


# How a step's buffer is summed: "shared" (MPI-3 shared memory on each node, then the
# nodes' sums across nodes; see _shared_memory), "allreduce" (one MPI Allreduce), or
# "auto": shared memory when a node holds several ranks, where it measured fastest
# (docs/distributed.md), Allreduce otherwise.
REDUCTION_VARIABLE = "FASTNN_DISTRIBUTED_REDUCTION"
_REDUCTIONS = ("auto", "shared", "allreduce")
# For testing the several-node path on one machine: split each node's ranks into
# groups of this many, each group then counting as a node.
RANKS_PER_NODE_VARIABLE = "FASTNN_DISTRIBUTED_RANKS_PER_NODE"


def _max_op():
    from mpi4py import MPI

    return MPI.MAX


def _reduction_setting(local_size):
    value = os.environ.get(REDUCTION_VARIABLE, "auto").strip().lower() or "auto"
    if value not in _REDUCTIONS:
        raise ValueError(
            f"{REDUCTION_VARIABLE} must be one of {list(_REDUCTIONS)}; received "
            f"{os.environ[REDUCTION_VARIABLE]!r}.")
    if value == "auto":
        return "shared" if local_size > 1 else "allreduce"
    return value


_world = None


def launched_by_mpi():
    """Whether this process was started by an MPI launcher (mpiexec, mpirun, srun)."""
    return any(os.environ.get(name) for name in _LAUNCHER_VARIABLES)


def initialize():
    """Join the MPI job this process was started in; a no-op (size 1) outside one.

    Called once, near the top of a training script, on every rank.  Under a launcher
    it initializes MPI through mpi4py, sets each rank's default thread count to the
    cores of its node divided by the ranks on the node (``fastnn.set_num_threads`` and
    ``OMP_NUM_THREADS`` still override it), and makes an uncaught exception on any
    rank end every rank (``MPI_Abort``) instead of leaving the others waiting.
    Calling it again does nothing.

    Returns:
        This process's rank (0 outside a launcher).

    Raises:
        ImportError: started by a launcher but mpi4py is not installed; the message
            says how to install it.
    """
    global _world
    if _world is not None or not launched_by_mpi():
        return rank()
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    comm = MPI.COMM_WORLD.Dup()
    node_comm = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    group = os.environ.get(RANKS_PER_NODE_VARIABLE)
    if group:
        try:
            group = int(group)
            if group < 1:
                raise ValueError
        except ValueError:
            raise ValueError(f"{RANKS_PER_NODE_VARIABLE} must be a positive integer; "
                             f"received {os.environ[RANKS_PER_NODE_VARIABLE]!r}.") from None
        node_comm = node_comm.Split(node_comm.Get_rank() // group, comm.Get_rank())
    _world = _World(comm, node_comm)
    _threads.set_default_num_threads(_node_share_of_cores(node_comm))
    if _world.size > 1:
        _install_abort_hook()
    return _world.rank


def _node_share_of_cores(node_comm):
    """Cores of this node divided by its ranks, counted from the CPUs the node's
    ranks may run on: with a launcher that binds each rank to its own cores the union
    is the node, and this rank's own mask is the cap."""
    own = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if own is None:
        return max(1, _threads.usable_cores() // node_comm.Get_size())
    union = set().union(*node_comm.allgather(own))
    share = len(union) // node_comm.Get_size()
    return max(1, min(share, _threads.usable_cores()))


def _install_abort_hook():
    """Make an exception nobody catches end the whole job: the other ranks would
    otherwise wait forever in their next collective call."""
    previous = sys.excepthook

    def abort_on_uncaught(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        abort(1)

    sys.excepthook = abort_on_uncaught


def abort(code=1):
    """End every rank of the job now (``MPI_Abort``); outside a job, exit the process.

    Args:
        code: the exit status the launcher reports.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if _world is None:
        os._exit(code)
    _world.comm.Abort(code)


def report_and_abort(exc):
    """Print ``exc`` with its traceback, naming this rank, then end every rank."""
    header = f"fastnn.distributed: rank {rank()} of {size()} failed; ending every rank.\n"
    sys.stderr.write(header + "".join(traceback.format_exception(exc)))
    abort(1)


def is_initialized():
    """Whether ``initialize`` joined an MPI job (False outside a launcher)."""
    return _world is not None


def rank():
    """This process's rank in the job, 0 .. size() - 1 (0 outside a job)."""
    return 0 if _world is None else _world.rank


def size():
    """The number of ranks in the job (1 outside a job)."""
    return 1 if _world is None else _world.size


def local_size():
    """The number of ranks on this process's node (1 outside a job)."""
    return 1 if _world is None else _world.local_size


def is_primary():
    """Whether this is rank 0: the rank that prints progress and writes files."""
    return rank() == 0


def barrier():
    """Wait until every rank has called ``barrier`` (returns at once outside a job).

    Use it before reading a file that rank 0 has just written.
    """
    if _world is not None:
        _world.comm.Barrier()


def communicator():
    """The mpi4py communicator fastnn uses (a duplicate of ``COMM_WORLD``), or None
    outside a job."""
    return None if _world is None else _world.comm


def rank_seed(seed):
    """``seed`` on rank 0 and outside a job; on rank r > 0 a seed mixed with r, so
    that random draws (Dropout masks) differ per rank and stay reproducible.

    Args:
        seed: a non-negative integer below 2**64.
    """
    r = rank()
    if r == 0:
        return seed
    # splitmix64's finalizer over (seed + r * golden ratio): neighbouring ranks get
    # unrelated seeds, not seeds one apart
    z = (seed + r * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) >> 1  # 63 bits, as the seeds fastnn draws


def data_parallel(model):
    """The ``DataParallel`` that runs ``model``'s ``fit`` / ``evaluate`` across the
    ranks, or None when there is one rank."""
    if _world is None or _world.size == 1:
        return None
    from ._data_parallel import DataParallel

    # one per model, kept while the model lives: its step buffers are reused from one
    # call to the next (a custom loop calls train_on_batch every step)
    reducer = _world.reducer()
    dp = _data_parallels.get(model)
    if dp is None or dp.comm is not _world.comm or dp.reducer is not reducer:
        dp = _data_parallels[model] = DataParallel(_world.comm, model, reducer)
    return dp


_data_parallels = weakref.WeakKeyDictionary()


__all__ = ["initialize", "is_initialized", "rank", "size", "local_size", "is_primary",
           "barrier", "abort", "communicator", "rank_seed", "launched_by_mpi"]
