"""``NodeReducer``: sums the ranks' step buffers through MPI-3 shared memory.

The ranks on one node (``COMM_TYPE_SHARED``) each own one slot of a shared segment and
write their step buffer (gradients, moving statistics, loss, metric state) straight into
it: that write is the only copy a step makes, where ``Allreduce`` needs a private buffer
and then copies through its own shared-memory channel.  After a barrier, node rank ``r``
of ``L`` sums elements ``[n*r // L, n*(r+1) // L)`` over every slot, in slot order, into
a second shared segment (the result); after another barrier every rank reads the whole
result from there, so every rank on the node sees the same bits.

Across nodes (when the job spans several), each node rank ``r`` then ``Allreduce``s its
slice with the ranks of the same node rank on the other nodes (when every node has the
same number of ranks: all the node's ranks take part, each with its own slice), or the
node leaders ``Allreduce`` the whole sum (nodes of different sizes); a third barrier
publishes the result on the node.  Every rank of a slice's communicator receives the
same bits from ``Allreduce`` (the property plain ``Allreduce`` relied on already).

Memory consistency follows MPI-3's unified model: the windows stay in one passive-target
epoch (``Lock_all``) for their lifetime and every barrier is fenced with ``Win.Sync``
on both sides, so writes before a barrier are seen by every rank after it.

Measured against ``Allreduce`` in ``benchmarks/bench_allreduce.py``; the numbers are in
``docs/distributed.md``.
"""

import numpy as np

# Slot sizes are rounded up to this many bytes so that every rank's slot (MPICH lays
# them out back to back) starts on its own cache line and page.
_ALIGN = 4096


class NodeReducer:
    """Sums a buffer over every rank of ``comm``, through shared memory on each node.

    Args:
        comm: every rank.
        node_comm: the ranks of this node (a ``COMM_TYPE_SHARED`` split of ``comm``).
    """

    def __init__(self, comm, node_comm):
        from mpi4py import MPI

        self._mpi = MPI
        self.comm, self.node_comm = comm, node_comm
        self.local_rank, self.local_size = node_comm.Get_rank(), node_comm.Get_size()
        self.generation = 0  # bumped when the segments are replaced (old views die)
        self._windows, self._capacity = (), 0
        self._slots = self._result = None
        self.cross, self.cross_slices = self._cross_node_comm()

    def _cross_node_comm(self):
        """The communicator this rank reduces over across nodes, and whether it
        reduces its own slice (equal node sizes) or the whole buffer (leaders only)."""
        MPI = self._mpi
        if self.local_size == self.comm.Get_size():
            return None, False  # one node: nothing to do across nodes
        sizes = set(self.comm.allgather(self.local_size))
        if len(sizes) == 1:
            return self.comm.Split(self.local_rank, self.comm.Get_rank()), True
        color = 0 if self.local_rank == 0 else MPI.UNDEFINED
        cross = self.comm.Split(color, self.comm.Get_rank())
        return (None if cross == MPI.COMM_NULL else cross), False

    def buffers(self, size, dtype):
        """This rank's slot and the node's result, ``size`` elements of ``dtype`` each.

        Collective over the node (every rank asks for the same sizes in the same order,
        as they run the same model).  The arrays stay valid until a later call needs
        more room than the segments have; then ``generation`` changes.
        """
        dtype = np.dtype(dtype)
        nbytes = max(size * dtype.itemsize, 1)
        if nbytes > self._capacity:
            self._allocate(-(-nbytes // _ALIGN) * _ALIGN)
        slots = [s[:size * dtype.itemsize].view(dtype) for s in self._slots]
        return slots, self._result[:size * dtype.itemsize].view(dtype)

    def _allocate(self, nbytes):
        MPI = self._mpi
        self.free()
        slots = MPI.Win.Allocate_shared(nbytes, 1, comm=self.node_comm)
        # the result lives in node rank 0's memory; the others allocate nothing
        result = MPI.Win.Allocate_shared(nbytes if self.local_rank == 0 else 0, 1,
                                         comm=self.node_comm)
        for win in (slots, result):
            win.Lock_all(MPI.MODE_NOCHECK)
        self._windows, self._capacity = (slots, result), nbytes
        self._slots = [np.frombuffer(slots.Shared_query(k)[0], np.uint8, nbytes)
                       for k in range(self.local_size)]
        self._result = np.frombuffer(result.Shared_query(0)[0], np.uint8, nbytes)
        self.generation += 1

    def free(self):
        """Release the segments (collective over the node)."""
        for win in self._windows:
            win.Unlock_all()
            win.Free()
        self._windows, self._capacity = (), 0
        self._slots = self._result = None

    def _sync(self):
        for win in self._windows:
            win.Sync()
        self.node_comm.Barrier()
        for win in self._windows:
            win.Sync()

    def reduce(self, slots, result):
        """Sum every rank's ``slots[local rank]`` into ``result`` (from ``buffers``),
        identical on every rank of the job once this returns."""
        n, r, p = result.size, self.local_rank, self.local_size
        self._sync()  # every slot written
        lo, hi = n * r // p, n * (r + 1) // p
        out = result[lo:hi]
        if p == 1:
            np.copyto(out, slots[0])
        elif hi > lo:
            np.add(slots[0][lo:hi], slots[1][lo:hi], out=out)
            for slot in slots[2:]:
                np.add(out, slot[lo:hi], out=out)
        if self.cross_slices:  # this rank alone wrote its slice: no barrier needed
            self.cross.Allreduce(self._mpi.IN_PLACE, result[lo:hi], op=self._mpi.SUM)
        elif self.comm.Get_size() > p:  # nodes of different sizes: leaders reduce all
            self._sync()
            if self.cross is not None:
                self.cross.Allreduce(self._mpi.IN_PLACE, result, op=self._mpi.SUM)
        self._sync()  # the sum complete on the node
        return result
