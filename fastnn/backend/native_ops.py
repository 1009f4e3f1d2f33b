"""NativeOps: NumpyOps with the hot primitives replaced by compiled C + OpenMP kernels.

Every method it does not override falls back to NumPy through inheritance, so the two
backends always expose the same interface.  The native kernels trust their inputs: this
class makes arrays contiguous and of the right dtype before calling them.
"""

import threading

import numpy as np

from .. import threads as _thread_count
from . import activations as _act
from .numpy_ops import NumpyOps

try:
    from .._native import _threads  # noqa: F401

    NATIVE_AVAILABLE = True
except ImportError:  # the extension was not built: fastnn still works on NumpyOps
    NATIVE_AVAILABLE = False

try:
    from .._native import _gemm
except ImportError:  # built without the GEMM: matmul and dense fall back to NumPy
    _gemm = None

_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

try:
    from .._native import _elementwise as _ew
except ImportError:  # built without it: activations, losses, optimizers use NumPy
    _ew = None

try:
    from .._native import _optimizers as _opt
except ImportError:  # built without it: the optimizer updates use NumPy
    _opt = None


def _ew_dtype(*arrays):
    """The dtype the element-wise kernels can take all ``arrays`` in (plain, aligned,
    C-contiguous ndarrays, all float32 or all float64), else None (use NumPy)."""
    first = arrays[0]
    if _ew is None or type(first) is not np.ndarray:
        return None
    dtype = first.dtype
    if dtype not in _GEMM_DTYPES:
        return None
    for x in arrays:
        if type(x) is not np.ndarray or x.dtype != dtype:
            return None
        flags = x.flags
        if not (flags.c_contiguous and flags.aligned):
            return None
    return dtype


def _ew_out_ok(out, shape, dtype, *inputs):
    """Whether the kernels may write their result into ``out`` (None: they allocate):
    a C-contiguous, writeable array of ``dtype`` and ``shape`` that either is one of
    ``inputs`` or overlaps none of them.  (The kernels read element i before writing it,
    so exact aliasing is safe and a partial overlap is not.)"""
    if out is None:
        return True
    if type(out) is not np.ndarray or out.dtype != dtype or out.shape != shape:
        return False
    flags = out.flags
    if not (flags.c_contiguous and flags.writeable and flags.aligned):
        return False
    owns = flags.owndata
    for x in inputs:
        if x is out or x is None:
            continue
        # Two arrays that each own their memory cannot overlap: skip the costlier test.
        if not (owns and x.flags.owndata) and np.may_share_memory(out, x):
            return False
    return True


def _state_ok(state, param):
    """Whether an optimizer state array can be updated in place next to ``param``."""
    if type(state) is not np.ndarray or state.dtype != param.dtype:
        return False
    flags = state.flags
    return (
        state.shape == param.shape
        and flags.c_contiguous
        and flags.writeable
        and flags.aligned
    )


def _flat(x):
    """The 1-D view of a C-contiguous array (never a copy)."""
    return x if x.ndim == 1 else x.reshape(-1)


def _gemm_dtype(*arrays):
    """The dtype the GEMM kernels can take all ``arrays`` in (plain ndarrays, all
    float32 or all float64, native byte order), else None (use NumPy)."""
    if _gemm is None:
        return None
    dtype = None
    for x in arrays:
        if type(x) is not np.ndarray or (dtype is not None and x.dtype != dtype):
            return None
        dtype = x.dtype
    return dtype if dtype in _GEMM_DTYPES else None


def _strides_ok(x):
    # The kernels address elements, not bytes.  NumPy's ALIGNED flag checks the data
    # pointer and every stride against the dtype's alignment, which for float32 and
    # float64 is the item size: aligned means strides in whole elements.
    return x.flags.aligned


def _as_operand(x):
    """``x`` itself (any strides, read-only is fine) unless its strides are not whole
    elements, then an aligned contiguous copy.  (``np.ascontiguousarray`` would return
    an already contiguous but misaligned array as it is: np.array always copies.)"""
    return x if _strides_ok(x) else np.array(x, order="C", copy=True)


def _out_ok(out, shape, dtype, contiguous=False):
    """Whether ``out`` can take the native result directly (else NumPy handles it)."""
    return out is None or (
        type(out) is np.ndarray
        and out.dtype == dtype
        and out.shape == shape
        and out.flags.writeable
        and _strides_ok(out)
        and (out.flags.c_contiguous or not contiguous)
    )


# Per-thread scratch arrays (NativeOps._dz_buffer).
_SCRATCH = threading.local()

# Each activation's parameter when none is given (0.0 where it takes none).
_DEFAULT_ALPHA = {name: _act.resolve_alpha(name, None) for name in _act.ACTIVATIONS}


def _alpha(activation, alpha):
    """``_act.resolve_alpha`` with the common case (no alpha given) as one dict lookup."""
    if alpha is None:
        return _DEFAULT_ALPHA.get(activation, 0.0)
    return _act.resolve_alpha(activation, alpha)


def _gemm_into(a, b, out, bias=None, act=0, alpha=0.0):
    """``out = act(a @ b + bias)`` through the native GEMM, for 2-D ``a`` (m, k) and
    ``b`` (k, n) of one dtype that ``_gemm_dtype`` accepted."""
    m, n = a.shape[0], b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    if not (m and n):
        return out
    if bias is not None and not bias.flags.c_contiguous:
        bias = np.ascontiguousarray(bias)
    nthreads = _thread_count.get_num_threads()
    # The wrapper checks overlap and strides itself (cheaper than np.may_share_memory,
    # which cost ~1.2 us a call, a tenth of a small product) and computes nothing when
    # they fail; the rare inputs that do then take the slow path here.
    status = _gemm.gemm(a, b, out, bias, act, alpha, False, nthreads)
    if status == _gemm.GEMM_ODD_STRIDES:
        a, b = _as_operand(a), _as_operand(b)
        status = _gemm.gemm(a, b, out, bias, act, alpha, False, nthreads)
    if status == _gemm.GEMM_OVERLAP:
        # An out that overlaps an input would be read after being written.
        target = np.empty((m, n), dtype=a.dtype)
        status = _gemm.gemm(a, b, target, bias, act, alpha, False, nthreads)
        if status == 0:
            np.copyto(out, target)
    if status != 0:
        raise MemoryError("fastnn GEMM: could not allocate its packing buffers")
    return out


def _loss_fast(kind, logits, target, grad_scale, out_grad):
    """``(loss, grad)`` of a fused loss through ``_ew.loss_arrays``, which checks the
    arrays itself; None when they do not fit it (the caller's general path decides)."""
    if type(logits) is not np.ndarray or logits.ndim != 2:
        return None
    n = logits.shape[0]
    loss = np.empty(n, dtype=logits.dtype)
    grad = None
    if grad_scale is not None:
        grad = np.empty(logits.shape, dtype=logits.dtype) if out_grad is None else out_grad
    status = _ew.loss_arrays(
        kind, logits, target, grad_scale, loss, grad, _thread_count.get_num_threads()
    )
    return (loss, grad) if status == 0 else None


class NativeOps(NumpyOps):
    """The compiled backend (kernels are added primitive by primitive)."""

    name = "native"

    # ------------------------------------------------------------------ matmul / dense
    # The BLIS-style GEMM of csrc/gemm with its fused bias + activation epilogue.
    # Anything the kernels do not take (other dtypes, mixed dtypes, not 2-D, odd out=
    # buffers) goes to NumpyOps, which also raises the errors for bad shapes.

    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        """``op(a) @ op(b)`` where ``op`` transposes when asked (by strides, no copy)."""
        dtype = _gemm_dtype(a, b)
        if dtype is None or a.ndim != 2 or b.ndim != 2:
            return super().matmul(a, b, transpose_a, transpose_b, out=out)
        a = a.T if transpose_a else a
        b = b.T if transpose_b else b
        if a.shape[1] != b.shape[0] or not _out_ok(out, (a.shape[0], b.shape[1]), dtype):
            return super().matmul(a, b, out=out)
        return _gemm_into(a, b, out)

    def dense_forward(self, x, w, b, activation="linear", out=None, alpha=None):
        """``y = act(x @ w + b)`` with bias and activation fused into the GEMM epilogue
        (softmax, being row-wise, runs after it); ``b`` may be None."""
        # The training path: one call that checks everything in C (see _dense.pxi).
        if out is not None and _gemm is not None:
            code = _gemm.ACTIVATION_CODES.get(activation)
            if code is not None and _gemm.dense_forward_arrays(
                x, w, b, out, code, _alpha(activation, alpha), _thread_count.get_num_threads()
            ) == 0:
                return out
        dtype = _gemm_dtype(x, w) if b is None else _gemm_dtype(x, w, b)
        code = _gemm.ACTIVATION_CODES.get(activation) if dtype is not None else None
        softmax = activation == "softmax"
        if (
            (code is None and not softmax)
            or x.ndim != 2
            or w.ndim != 2
            or x.shape[1] != w.shape[0]
            or (b is not None and b.shape != (w.shape[1],))
            or not _out_ok(out, (x.shape[0], w.shape[1]), dtype)
        ):
            return super().dense_forward(x, w, b, activation, out=out, alpha=alpha)
        if softmax:  # row-wise, so not an epilogue: GEMM + bias, then softmax in place
            y = _gemm_into(x, w, out, b)
            return self.softmax(y, out=y)
        return _gemm_into(x, w, out, b, code, _act.resolve_alpha(activation, alpha))

    def dense_backward(
        self,
        x,
        w,
        y,
        dy,
        activation="linear",
        has_bias=True,
        need_dx=True,
        out_dx=None,
        out_dw=None,
        out_db=None,
        alpha=None,
    ):
        """Gradients of ``y = act(x @ w + b)``: ``(dx, dw, db)`` as in NumpyOps, with
        ``dw = x.T @ dz`` and ``dx = dz @ w.T`` run by the GEMM on strided views."""
        # The training path: one call for dz, dw, db and dx, checked in C (_dense.pxi).
        if out_dw is not None and _gemm is not None:
            code = _gemm.ACTIVATION_CODES.get(activation)
            if code is not None and (out_db is not None or not has_bias) and (
                out_dx is not None or not need_dx
            ):
                linear = activation == "linear"
                status = _gemm.dense_backward_arrays(
                    x, w, y, dy, code, _alpha(activation, alpha),
                    None if linear else self._dz_buffer(dy.shape, dy.dtype),
                    out_dx if need_dx else None, out_dw, out_db if has_bias else None,
                    _thread_count.get_num_threads(),
                )
                if status == 0:
                    return (out_dx if need_dx else None), out_dw, (
                        out_db if has_bias else None)
                if status == -1:
                    raise MemoryError("fastnn GEMM: could not allocate its packing buffers")
        if _gemm_dtype(x, w, y, dy) is None or dy.ndim != 2:
            return super().dense_backward(
                x, w, y, dy, activation, has_bias, need_dx, out_dx, out_dw, out_db, alpha
            )
        if activation == "linear":
            dz = dy  # read only below, so no copy
        else:
            # dz goes into a buffer reused across steps (same shapes every batch).
            dz = self.activation_backward(
                dy, y, activation, alpha=alpha, out=self._dz_buffer(dy.shape, dy.dtype)
            )
        dw = self.matmul(x, dz, transpose_a=True, out=out_dw)
        db = self.bias_grad(dz, out=out_db) if has_bias else None
        dx = self.matmul(dz, w, transpose_b=True, out=out_dx) if need_dx else None
        return dx, dw, db

    def bias_grad(self, dz, out=None):
        """Column sums of ``dz`` (the bias gradient); rows are summed in order, so the
        result is the same for any thread count."""
        dtype = _gemm_dtype(dz)
        if (
            dtype is None
            or dz.ndim != 2
            or not _out_ok(out, (dz.shape[1],), dtype, contiguous=True)
        ):
            return super().bias_grad(dz, out=out)
        m, n = dz.shape
        if out is None:
            out = np.empty(n, dtype=dtype)
        if m == 0:
            out.fill(0)
        elif n:
            target = np.empty(n, dtype=dtype) if np.may_share_memory(out, dz) else out
            _gemm.col_sum(_as_operand(dz), target, _thread_count.get_num_threads())
            if target is not out:
                np.copyto(out, target)
        return out

    def _dz_buffer(self, shape, dtype):
        """A scratch array for dense_backward's dz, kept per thread and per shape so
        that training steps reuse it instead of allocating."""
        try:
            cache = _SCRATCH.buffers
        except AttributeError:  # first use on this thread
            cache = _SCRATCH.buffers = {}
        key = (shape, dtype.char)
        buf = cache.get(key)
        if buf is None:
            if len(cache) >= 64:  # many shapes (e.g. a last partial batch): start over
                cache.clear()
            buf = cache[key] = np.empty(shape, dtype=dtype)
        return buf

    # ------------------------------------------------------------------ activations
    # csrc/activations.c through fastnn/_native/_elementwise.pyx.  Inputs the kernels do
    # not take (other dtypes, mixed dtypes, non-contiguous, shapes that broadcast, an out=
    # that partly overlaps an input) go to NumpyOps, which also raises the errors.

    def activation_forward(self, x, activation, out=None, alpha=None):
        """``f(x)`` for a name in ``activations.ACTIVATIONS`` (``out`` may alias ``x``)."""
        if activation == "softmax":
            return self.softmax(x, out=out)
        code = _ew.ACTIVATION_CODES.get(activation) if _ew is not None else None
        dtype = _ew_dtype(x) if code is not None else None
        if dtype is None or not _ew_out_ok(out, x.shape, dtype, x):
            return super().activation_forward(x, activation, out=out, alpha=alpha)
        if out is None:
            out = np.empty(x.shape, dtype=dtype)
        a = _act.resolve_alpha(activation, alpha)
        _ew.act_forward(code, a, _flat(x), _flat(out), _thread_count.get_num_threads())
        return out

    def activation_backward(self, dy, y, activation, x=None, out=None, alpha=None):
        """``dL/dx`` given ``dL/dy`` and the output ``y`` (and ``x`` for NEEDS_INPUT)."""
        needs_x = activation in _act.NEEDS_INPUT
        code = _ew.ACTIVATION_CODES.get(activation) if _ew is not None else None
        inputs = (dy, y, x) if needs_x else (dy, y)
        dtype = None if code is None or (needs_x and x is None) else _ew_dtype(*inputs)
        if (
            dtype is None
            or any(a.shape != dy.shape for a in inputs)
            or (code == _ew.ACTIVATION_CODES["softmax"] and (dy.ndim == 0 or dy.shape[-1] == 0))
            or not _ew_out_ok(out, dy.shape, dtype, *inputs)
        ):
            return super().activation_backward(dy, y, activation, x=x, out=out, alpha=alpha)
        if out is None:
            out = np.empty(dy.shape, dtype=dtype)
        nt = _thread_count.get_num_threads()
        if activation == "softmax":
            cols = dy.shape[-1]
            _ew.softmax_backward(
                dy.reshape(-1, cols), y.reshape(-1, cols), out.reshape(-1, cols), nt
            )
        else:
            a = _act.resolve_alpha(activation, alpha)
            _ew.act_backward(
                code, a, _flat(dy), _flat(y), _flat(x if needs_x else y), _flat(out), nt
            )
        return out

    def softmax(self, x, out=None):
        """Row-wise softmax over the last axis, shifted by the row maximum."""
        dtype = _ew_dtype(x)
        if (
            dtype is None
            or x.ndim == 0
            or x.shape[-1] == 0
            or not _ew_out_ok(out, x.shape, dtype, x)
        ):
            return super().softmax(x, out=out)
        if out is None:
            out = np.empty(x.shape, dtype=dtype)
        cols = x.shape[-1]
        _ew.softmax(
            x.reshape(-1, cols), out.reshape(-1, cols), _thread_count.get_num_threads()
        )
        return out

    # ------------------------------------------------------------------ fused losses

    def _loss_args(self, logits, grad_scale, out_grad, others):
        """Shared checks of the fused losses: ``(dtype, grad_scale)`` ready for the
        kernel (grad_scale converted to the logits' dtype), or None to use NumPy."""
        dtype = _ew_dtype(logits)
        if dtype is None or logits.ndim != 2 or logits.shape[1] == 0:
            return None
        if grad_scale is None:
            return dtype, None
        gs = np.ascontiguousarray(grad_scale, dtype=dtype)
        # out_grad may be logits itself (rows are read before written), nothing else.
        if gs.shape != (logits.shape[0],) or not _ew_out_ok(
            out_grad, logits.shape, dtype, logits, gs, *others
        ):
            return None
        return dtype, gs

    def softmax_crossentropy(self, logits, target, sparse, grad_scale=None, out_grad=None):
        """Fused softmax + (sparse) categorical cross-entropy from logits, one pass per
        row; stable for logits of +-1e4."""
        if _ew is not None:
            kind = _ew.LOSS_SOFTMAX_XENT_SPARSE if sparse else _ew.LOSS_SOFTMAX_XENT_DENSE
            done = _loss_fast(kind, logits, target, grad_scale, out_grad)
            if done is not None:
                return done
        if sparse:
            if type(target) is not np.ndarray or target.shape != logits.shape[:1]:
                return super().softmax_crossentropy(
                    logits, target, sparse, grad_scale, out_grad
                )
            target_k = target if target.dtype == np.int64 else target.astype(np.int64)
            target_k = np.ascontiguousarray(target_k)
        else:
            target_k = target
            if (
                type(target) is not np.ndarray
                or target.shape != logits.shape
                or _ew_dtype(logits, target) is None
            ):
                return super().softmax_crossentropy(
                    logits, target, sparse, grad_scale, out_grad
                )
        args = self._loss_args(logits, grad_scale, out_grad, (target,))
        if args is None:
            return super().softmax_crossentropy(logits, target, sparse, grad_scale, out_grad)
        dtype, gs = args
        n = logits.shape[0]
        loss = np.empty(n, dtype=dtype)
        grad = None
        if gs is not None:
            grad = np.empty(logits.shape, dtype=dtype) if out_grad is None else out_grad
        nt = _thread_count.get_num_threads()
        if sparse:
            if _ew.softmax_xent_sparse(logits, target_k, gs, loss, grad, nt) != 0:
                # a label outside [0, k): NumPy wraps negatives or raises IndexError
                return super().softmax_crossentropy(
                    logits, target, sparse, grad_scale, out_grad
                )
        else:
            _ew.softmax_xent_dense(logits, target_k, gs, loss, grad, nt)
        return loss, grad

    def sigmoid_binary_crossentropy(self, logits, target, grad_scale=None, out_grad=None):
        """Fused sigmoid + binary cross-entropy from logits, mean over the last axis."""
        if _ew is not None:
            done = _loss_fast(_ew.LOSS_SIGMOID_BCE, logits, target, grad_scale, out_grad)
            if done is not None:
                return done
        if (
            type(target) is not np.ndarray
            or target.shape != logits.shape
            or _ew_dtype(logits, target) is None
        ):
            return super().sigmoid_binary_crossentropy(logits, target, grad_scale, out_grad)
        args = self._loss_args(logits, grad_scale, out_grad, (target,))
        if args is None:
            return super().sigmoid_binary_crossentropy(logits, target, grad_scale, out_grad)
        dtype, gs = args
        loss = np.empty(logits.shape[0], dtype=dtype)
        grad = None
        if gs is not None:
            grad = np.empty(logits.shape, dtype=dtype) if out_grad is None else out_grad
        _ew.sigmoid_bce(logits, target, gs, loss, grad, _thread_count.get_num_threads())
        return loss, grad

    # ------------------------------------------------------------------ optimizers
    # One native call per step: _optimizers.<kernel>_update checks every array with the
    # NumPy C API and updates them all, each in one fused pass, or returns NOT_TAKEN
    # (nothing updated) when an array does not fit, and NumpyOps does the step.

    def sum_squares(self, x):
        """``sum(x^2)`` as a Python float, the same for every thread count."""
        if _ew_dtype(x) is None:
            return super().sum_squares(x)
        return _ew.sum_squares(_flat(x), _thread_count.get_num_threads())

    def multi_update(self, rule, params, grads, slots, weight_decays, grad_scales, *, lr,
                     step, clipvalue=0.0):
        """NumpyOps.multi_update as one call to the rule's native entry."""
        if _opt is not None:
            entry = getattr(_opt, rule.kernel + "_update")
            if entry(rule, params, grads, slots, weight_decays, grad_scales, lr, step,
                     clipvalue, _thread_count.get_num_threads()) == _opt.OK:
                return
        super().multi_update(rule, params, grads, slots, weight_decays, grad_scales,
                             lr=lr, step=step, clipvalue=clipvalue)

    # ------------------------------------------------------------------ dropout

    def dropout_mask(self, shape, rate, seed, stream, dtype, out=None):
        """The inverted-dropout multiplier, bit for bit NumpyOps' (same counter RNG),
        whatever the thread count."""
        shape = tuple(shape) if np.iterable(shape) else (int(shape),)
        target = np.dtype(dtype) if out is None else out.dtype
        if (
            _ew is None
            or target not in _GEMM_DTYPES
            or not 0.0 <= rate < 1.0
            or not _ew_out_ok(out, shape, target)
        ):
            return super().dropout_mask(shape, rate, seed, stream, dtype, out=out)
        if out is None:
            out = np.empty(shape, dtype=target)
        _ew.dropout_mask(
            int(seed) & 0xFFFFFFFFFFFFFFFF, int(stream) & 0xFFFFFFFFFFFFFFFF, float(rate),
            _flat(out), _thread_count.get_num_threads(),
        )
        return out
