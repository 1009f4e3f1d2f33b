"""``DataParallel``: what ``fit`` and ``evaluate`` do differently on several ranks.

Every rank holds the same data.  A global batch of ``m`` rows is cut into one
contiguous share per rank, rows ``[m*r // P, m*(r+1) // P)`` of the batch (the same
shuffled order on every rank, from a seed rank 0 chose), so the shares differ by at
most one row and a batch smaller than ``P`` leaves some ranks an empty share.

Each rank scales its per-sample losses by the factor the *global* batch would give
them (``loss.reduction_scale(m, global weights)``, then its own rows of it), so the
gradients of the shares add up to the gradient a single process computes on the whole
batch.  Rank 0 alone adds the regularization terms, which belong to the weights, not to
the data.  One ``Allreduce`` (sum, in place, over the buffer interface) then adds, in a
single contiguous array of the model's float type:

    [ every trainable gradient | BatchNormalization moving statistics | loss |
      metric state ]

The gradients come back as views of that array, which the optimizer updates from
directly; the moving statistics are divided by ``P`` (the mean over ranks); the loss and
the metric state (sums and counts, not results) are the global batch's, so every rank
logs the same numbers and every callback decides the same thing.  Packing the gradients
costs one copy of them per step (measured by ``benchmarks/bench_distributed.py``), small
beside the matrix products that produce them.

Metric state is read from the attributes fastnn's metrics keep it in (``total``,
``count``, ``true_positives``, ...): sums over batches, which add across ranks too.
"""

import copy
import weakref

import numpy as np

from . import report_and_abort

# Where fastnn's metrics keep their state: every one of them is a sum over samples
# (Mean: total, count; Precision, Recall, AUC: confusion counts per threshold).
METRIC_STATE_ATTRIBUTES = ("total", "count", "true_positives", "false_positives",
                           "true_negatives", "false_negatives")


class Shard:
    """This rank's share of one global batch.

    Attributes:
        rows: the global batch's size ``m``.
        lo, hi: this rank's rows of the batch, ``[lo, hi)``.
        sample_weight: the global batch's sample weights, or None.
        primary: whether this rank adds the regularization terms (rank 0).
    """

    __slots__ = ("rows", "lo", "hi", "sample_weight", "primary")

    def __init__(self, rows, lo, hi, sample_weight, primary):
        self.rows, self.lo, self.hi = rows, lo, hi
        self.sample_weight = sample_weight
        self.primary = primary


class DataParallel:
    """Runs one model's ``fit`` and ``evaluate`` across the ranks of ``comm``.

    Args:
        comm: an mpi4py communicator holding every rank.
        model: the model; every rank builds the same one.
    """

    def __init__(self, comm, model, reducer=None):
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = comm
        self.reducer = reducer  # a NodeReducer, or None: one Allreduce of the buffer
        # weakly: DataParallel objects are kept per model (distributed.data_parallel)
        # in a weak dictionary, which a strong reference back would keep forever
        self._model = weakref.ref(model)
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.primary = self.rank == 0
        self._layouts = {}

    @property
    def model(self):
        return self._model()

    # ------------------------------------------------------------------ fit start
    def agree(self, value):
        """Rank 0's ``value`` (a small picklable object), on every rank."""
        return self.comm.bcast(value, root=0)

    def any_rank(self, flag):
        """Whether ``flag`` is true on at least one rank (one tiny Allreduce)."""
        buf = np.array([1 if flag else 0], dtype=np.int32)
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.MAX)
        return bool(buf[0])

    def sync_model(self, model, synced):
        """Start ``fit`` from rank 0's model on every rank: broadcast it
        (``broadcast_model``) unless every rank already holds it.

        Every rank sends whether its model is marked as agreeing with the others
        (``synced``: set after a broadcast or a data-parallel fit, cleared by
        ``compile``, ``set_weights``, ``load_weights`` and restores) and a fingerprint
        of its weights and optimizer state (``model_fingerprint``, which also catches
        changes made behind those calls' backs, such as writing into a weight's
        array on one rank).  When every rank is marked and every fingerprint is rank
        0's, the broadcast would copy each rank's own bits onto themselves and is
        skipped: it costs 1.1-3 ms per fit for the benchmark's MLP (7.8 MB), the
        fingerprint about 0.15-0.18 ms.  The Dropout positions are agreed either way.

        Returns:
            Whether the model was broadcast.
        """
        mine = (bool(synced), model_fingerprint(model) if synced else None)
        views = self.comm.allgather(mine)
        if all(flag and fingerprint == views[0][1] for flag, fingerprint in views):
            self._agree_rng_states(model)
            return False
        self.broadcast_model(model)
        return True

    def all_finite(self, arrays):
        """Whether every value of ``arrays`` (the same on every rank, rows first) is
        finite: each rank checks its rows ``[n*r//P, n*(r+1)//P)`` and one tiny
        Allreduce tells every rank whether any rank found a bad value."""
        finite = True
        for a in arrays:
            lo, hi = self.shard_bounds(a.shape[0])
            if finite and a.dtype.kind == "f" and hi > lo:
                finite = bool(np.isfinite(a[lo:hi]).all())
        return not self.any_rank(not finite)

    def broadcast_model(self, model):
        """Copy rank 0's weights, optimizer state and Dropout positions to every rank.

        Called when ``fit`` starts, after the callbacks' ``on_train_begin`` (where
        ``BackupAndRestore`` resumes), so that every rank starts equal whatever each
        loaded or initialized before.
        """
        for weight in model.weights:
            self.comm.Bcast(weight.value, root=0)
        optimizer = model.optimizer
        state = self._broadcast_arrays(optimizer.get_state() if self.primary else None)
        if not self.primary:
            optimizer.set_state(state)
        self._agree_rng_states(model)

    def _agree_rng_states(self, model):
        """Rank 0's Dropout positions on every rank (small: pickled)."""
        rng_states = self.agree([layer.get_rng_state() if hasattr(layer, "get_rng_state")
                                 else None for layer in model.layers])
        for layer, rng_state in zip(model.layers, rng_states):
            if rng_state is not None:
                layer.set_rng_state(rng_state)

    def _broadcast_arrays(self, arrays):
        """Rank 0's ``{name: ndarray}``: names, shapes and dtypes pickled, contents sent
        through the buffer interface."""
        specs = self.agree(None if arrays is None else
                           [(k, a.shape, a.dtype.str) for k, a in arrays.items()])
        out = {}
        for name, shape, dtype in specs:
            a = (np.ascontiguousarray(arrays[name]) if self.primary
                 else np.empty(shape, dtype=np.dtype(dtype)))
            self.comm.Bcast(a, root=0)
            out[name] = a
        return out

    # ------------------------------------------------------------------ batches
    def shard_bounds(self, rows):
        """This rank's rows ``[lo, hi)`` of a global batch of ``rows``."""
        return rows * self.rank // self.size, rows * (self.rank + 1) // self.size

    def batches(self, xs, ys, sw, batch_size, order, gather=None):
        """Like the trainer's ``_Batches``, but each item is this rank's share of a
        global batch: ``(xs, ys, sample_weight, Shard)``.

        ``gather`` (a dict the caller keeps across epochs) holds the buffers a
        shuffled share is gathered into, per share size: a fresh ``take`` per step
        costs a new allocation of the share (400 kB for the benchmark's MLP), whose
        page faults were a measured 5% of a 2-rank step.  Nothing keeps a share past
        its step (the layers' caches are refilled by every forward)."""
        n = xs[0].shape[0]
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            lo, hi = self.shard_bounds(stop - start)
            if order is None:
                rows = slice(start + lo, start + hi)
                bx = [a[rows] for a in xs]
                by = [a[rows] for a in ys]
                gw = None if sw is None else sw[start:stop]
            else:
                idx = order[start + lo:start + hi]
                if gather is None:
                    bx = [a.take(idx, axis=0) for a in xs]
                    by = [a.take(idx, axis=0) for a in ys]
                else:
                    bx, by = _gather(gather, xs, ys, idx)
                gw = None if sw is None else sw.take(order[start:stop])
            bw = None if gw is None else gw[lo:hi]
            yield bx, by, bw, Shard(stop - start, lo, hi, gw, self.primary)

    # ------------------------------------------------------------------ reductions
    def reduce_step(self, grads, loss, metric_run, variables):
        """Sum the step's gradients, loss and metric state over the ranks (one
        Allreduce) and average the BatchNormalization moving statistics.

        Returns:
            ``(gradients, loss)``: the global gradients, as views of the reduced
            buffer (the same arrays every step), and the global batch's loss.
        """
        layout = self._layout(variables, metric_run)
        for view, g in zip(layout.grads_in, grads):
            np.copyto(view, g, casting="same_kind")
        for view, stat in zip(layout.stats_in, layout.stats):
            np.copyto(view, stat.value, casting="same_kind")
        loss = self._reduce_tail(layout, loss, metric_run)
        for view, stat in zip(layout.stats_out, layout.stats):
            np.divide(view, self.size, out=stat.value, casting="same_kind")
        return layout.grads, loss

    def step_layout(self, variables, metric_run):
        """The step buffer ``reduce_step`` uses for these variables and metric state
        (``step_plan`` writes a replayed step's gradients straight into its
        ``grads_in`` views).  The same object while it stays valid."""
        return self._layout(variables, metric_run)

    def finish_step(self, layout, loss, metric_run):
        """``reduce_step`` for a step whose gradients are already in
        ``layout.grads_in`` (a replayed step plan; no moving statistics): sum the
        buffer over the ranks and return the global batch's loss.  The summed
        gradients are ``layout.grads``."""
        return self._reduce_tail(layout, loss, metric_run)

    def reduce_test_step(self, loss, metric_run):
        """Sum one evaluation batch's loss and metric state over the ranks."""
        return self._reduce_tail(self._layout((), metric_run), loss, metric_run)

    def _reduce_tail(self, layout, loss, metric_run):
        send, result = layout.send, layout.result
        send[layout.loss_index] = loss
        metric_run.write_state(send[layout.loss_index + 1:])
        self._reduce_buffer(layout)
        metric_run.read_global_state(result[layout.loss_index + 1:])
        return float(result[layout.loss_index])

    def _reduce_buffer(self, layout):
        """The one reduction of a step: ``layout.result`` becomes the sum over the
        ranks of their ``layout.send``."""
        if self.reducer is None:  # send is result: in place
            self.comm.Allreduce(self._mpi.IN_PLACE, layout.result, op=self._mpi.SUM)
        else:
            self.reducer.reduce(layout.slots, layout.result)

    def _layout(self, variables, metric_run):
        key = (tuple(id(v) for v in variables), metric_run.state_size)
        layout = self._layouts.get(key)
        generation = 0 if self.reducer is None else self.reducer.generation
        if layout is None or layout.generation != generation:
            if len(self._layouts) >= 8:  # trainable sets come and go: keep the cache small
                self._layouts.clear()
            layout = self._layouts[key] = _Layout(self.model, variables,
                                                  metric_run.state_size, self.reducer)
        return layout

    def metric_run(self, local_run):
        """``local_run`` (this rank's metric objects) with logs from the global state."""
        return GlobalMetricRun(local_run)

    # ------------------------------------------------------------------ faults
    def abort_on_error(self):
        """A context in which an exception ends every rank (the others would wait for
        this one in their next Allreduce forever), after printing it."""
        return _AbortOnError()


def model_fingerprint(model):
    """A summary of ``model``'s weights and optimizer state that differs between two
    models whose bits differ, in practice: per array its shape, dtype and the wrapping
    sum of its 64-bit words (plus its last bytes, when its size is not a multiple of
    8).  One read of the arrays, no copies: 0.15-0.18 ms for the benchmark's 7.8 MB on
    a Zen 5 core (NumPy's reduction runs at about 60 GB/s there; adding an xor of the
    words, a second pass, made it 0.32 ms).  Changes that leave an array's word sum
    equal (swapping two of its values) are not told apart; ``sync_model`` relies on it
    only for changes no fastnn call announced.
    """
    optimizer = model.optimizer
    arrays = [w.value for w in model.weights]
    if optimizer is not None:
        arrays += (optimizer.variables if optimizer.built
                   else list(optimizer.get_state().values()))
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        raw = a.reshape(-1).view(np.uint8)
        cut = raw.size - raw.size % 8
        words = raw[:cut].view(np.uint64)
        out.append((a.shape, a.dtype.str, int(np.add.reduce(words)),
                    raw[cut:].tobytes()))
    return out


def _gather(gather, xs, ys, idx):
    """Rows ``idx`` of every array of ``xs`` and ``ys``, in buffers kept in ``gather``
    per row count (and replaced when the arrays' dtypes or row shapes change)."""
    arrays = list(xs) + list(ys)
    m = idx.shape[0]
    bufs = gather.get(m)
    if bufs is None or len(bufs) != len(arrays) or any(
            b.dtype != a.dtype or b.shape[1:] != a.shape[1:] for b, a in zip(bufs, arrays)):
        bufs = gather[m] = [np.empty((m,) + a.shape[1:], a.dtype) for a in arrays]
    for a, b in zip(arrays, bufs):
        # "clip" cannot clip (a permutation's indices are in range) and, unlike the
        # default "raise", writes into ``out`` without a temporary
        np.take(a, idx, axis=0, out=b, mode="clip")
    return bufs[:len(xs)], bufs[len(xs):]


class _AbortOnError:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            report_and_abort(exc)
        return False


class _Layout:
    """The step buffer of one (variables, metric state size) pair, and its views.

    ``send`` is what this rank writes (its gradients, statistics, loss, metric state),
    ``result`` where the sum over the ranks appears.  With ``Allreduce`` they are one
    private array (reduced in place); with a ``NodeReducer`` ``send`` is this rank's
    slot of the node's shared segment and ``result`` the node's shared sum, so the
    gradients are written once, straight where the other ranks read them.
    """

    def __init__(self, model, variables, metric_state_size, reducer=None):
        dtype = model._dtype()
        # held so that the ids in the cache key cannot be reused by other variables
        self.variables = list(variables)
        self.stats = _moving_statistics(model) if variables else []
        sizes = [v.value.size for v in variables] + [s.value.size for s in self.stats]
        self.loss_index = sum(sizes)
        size = self.loss_index + 1 + metric_state_size
        if reducer is None:
            self.slots, self.generation = None, 0
            self.send = self.result = np.zeros(size, dtype=dtype)
        else:
            self.slots, self.result = reducer.buffers(size, dtype)
            self.send, self.generation = self.slots[reducer.local_rank], reducer.generation
        shapes = [v.value.shape for v in variables] + [s.value.shape for s in self.stats]
        sent, summed = _views(self.send, shapes, sizes), _views(self.result, shapes, sizes)
        k = len(variables)
        self.grads_in, self.stats_in = sent[:k], sent[k:]
        self.grads, self.stats_out = summed[:k], summed[k:]


def _views(buffer, shapes, sizes):
    views, offset = [], 0
    for shape, size in zip(shapes, sizes):
        views.append(buffer[offset:offset + size].reshape(shape))
        offset += size
    return views


def _moving_statistics(model):
    """The moving statistics a training step updates: those of every trainable
    BatchNormalization layer (a frozen one runs in inference mode)."""
    from ..layers.normalization import BatchNormalization

    stats = []
    for layer in model.layers:
        if isinstance(layer, BatchNormalization) and layer.trainable and layer.built:
            stats += [layer.moving_mean, layer.moving_variance]
    return stats


class GlobalMetricRun:
    """A ``MetricRun`` whose metrics are updated with this rank's rows and whose logs
    come from the state summed over every rank.

    Args:
        local_run: the ``MetricRun`` this rank updates.
    """

    def __init__(self, local_run):
        self._local = local_run
        self._attributes = [_state_attributes(m) for m in local_run.metrics]
        self._global = [_shallow_copy(m) for m in local_run.metrics]
        self._global_run = local_run.with_metrics(self._global)
        self.state_size = sum(int(np.size(getattr(m, name)))
                              for m, names in zip(local_run.metrics, self._attributes)
                              for name in names)

    @property
    def metrics(self):
        """The metrics holding the global state, in log order."""
        return self._global

    def update(self, ys, preds, sample_weight):
        """Add this rank's rows of one batch."""
        self._local.update(ys, preds, sample_weight)

    def write_state(self, out):
        """Copy this rank's metric state, in a fixed order, into ``out``."""
        offset = 0
        for metric, names in zip(self._local.metrics, self._attributes):
            for name in names:
                value = np.ravel(getattr(metric, name))
                out[offset:offset + value.size] = value
                offset += value.size

    def read_global_state(self, summed):
        """Take the state summed over ranks from ``summed`` into the global metrics."""
        offset = 0
        for metric, names in zip(self._global, self._attributes):
            for name in names:
                local = getattr(metric, name)
                size = int(np.size(local))
                values = summed[offset:offset + size].astype(np.float64)
                offset += size
                if np.ndim(local) == 0:
                    setattr(metric, name, float(values[0]))
                else:
                    setattr(metric, name, values.reshape(np.shape(local)))

    def logs(self):
        """``{key: result}`` of the global state."""
        return self._global_run.logs()


def _state_attributes(metric):
    names = [name for name in METRIC_STATE_ATTRIBUTES if name in vars(metric)]
    if not names:
        raise ValueError(
            f"Data-parallel training sums each metric's state over the ranks, and the "
            f"metric {metric.name!r} ({type(metric).__name__}) keeps none of it in the "
            f"attributes {list(METRIC_STATE_ATTRIBUTES)}. Keep its running sums in "
            "those attributes (as fastnn's metrics do), or leave it out of compile() "
            "for a data-parallel run."
        )
    return names


def _shallow_copy(metric):
    """A copy of ``metric`` whose state attributes can be replaced without touching
    the original (its configuration is shared)."""
    twin = copy.copy(metric)
    twin.__dict__ = dict(vars(metric))
    return twin
