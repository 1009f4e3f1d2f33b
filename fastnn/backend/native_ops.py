"""NativeOps: NumpyOps with the hot primitives replaced by compiled C + OpenMP kernels.

Every method it does not override falls back to NumPy through inheritance, so the two
backends always expose the same interface.  An override is a few lines of one shape: it
calls its primitive's one Cython entry (fastnn/_native), which checks the arrays itself
with the NumPy C API, and when the entry answers NOT_TAKEN it returns ``super()``'s
result.  ``_done`` reads a status (and raises MemoryError for NO_MEMORY);
``_through_copies`` is the one repair made before giving up on a kernel (operands whose
strides are not whole elements, an ``out=`` that overlaps an input).
docs/architecture.md ("Adding a native primitive") follows one kernel's whole path.
"""

import numpy as np

from .. import threads as _thread_count
from . import activations as _act
from .numpy_ops import NumpyOps, scratch

try:
    from .._native import _threads  # noqa: F401

    NATIVE_AVAILABLE = True
except ImportError:  # the extension was not built: fastnn still works on NumpyOps
    NATIVE_AVAILABLE = False

try:
    from .._native import _gemm
except ImportError:  # built without the GEMM: matmul and dense fall back to NumPy
    _gemm = None

try:
    from .._native import _elementwise as _ew
except ImportError:  # built without it: activations, losses and dropout use NumPy
    _ew = None

try:
    from .._native import _optimizers as _opt
except ImportError:  # built without it: the optimizer updates and clipnorm use NumPy
    _opt = None

try:
    from .._native import _conv
except ImportError:  # built without it: convolution and pooling use NumPy
    _conv = None

# The statuses of csrc/fnn_status.h (the same numbers in every native module), and the
# activation codes of _native/_activation_codes.pxi; empty maps when a module is missing,
# so that every override falls through to NumpyOps.
_status = _gemm or _ew
_OK, _NO_MEMORY, _NOT_TAKEN = (
    (_status.OK, _status.NO_MEMORY, _status.NOT_TAKEN) if _status else (0, -1, -3)
)
_GEMM_CODES = _gemm.ACTIVATION_CODES if _gemm is not None else {}
_EW_CODES = _ew.ACTIVATION_CODES if _ew is not None else {}
_LINEAR = _GEMM_CODES.get("linear")
_CONV_CODES = _conv.ACTIVATION_CODES if _conv is not None else {}
_POOL_MODES = {"max": _conv.POOL_MAX, "avg": _conv.POOL_AVG} if _conv is not None else {}
_SOFTMAX = _EW_CODES.get("softmax")

# np.ndarray as one global: the hot paths test ``type(x) is _NDARRAY`` (a subclass goes
# to NumPy) without an attribute lookup each time.
_NDARRAY = np.ndarray

# Each activation's parameter when none is given (0.0 where it takes none).
_DEFAULT_ALPHA = {name: _act.resolve_alpha(name, None) for name in _act.ACTIVATIONS}


def _alpha(activation, alpha):
    """``_act.resolve_alpha`` with the common case (no alpha given) as one dict lookup."""
    if alpha is None:
        return _DEFAULT_ALPHA.get(activation, 0.0)
    return _act.resolve_alpha(activation, alpha)


def _done(status):
    """Whether an entry computed its result: True for OK, False when NumPy should (its
    arguments did not fit, or a sparse label is out of range, which NumPy reports or
    wraps in its own way).  NO_MEMORY raises: a kernel could not get its scratch memory.
    (The training step's paths test ``status == _OK`` first and save this call.)"""
    if status == _OK:
        return True
    if status == _NO_MEMORY:
        raise MemoryError("fastnn: a native kernel could not allocate its scratch memory "
                          "(the GEMM's packing buffers)")
    return False


def _like(x):
    """A new C-ordered array for a result shaped like ``x`` (None when ``x`` is not an
    ndarray: the entry then refuses, and NumPy answers)."""
    return np.empty(x.shape, x.dtype) if type(x) is np.ndarray else None


def _is_matrix(x):
    return type(x) is _NDARRAY and x.ndim == 2


def _operand(x):
    """``x``, or an aligned C-ordered copy when its strides are not whole elements (or it
    is a strided vector, like a bias the GEMM reads contiguously).  ``np.ascontiguousarray``
    would return an already contiguous but misaligned array as it is."""
    if type(x) is not np.ndarray or (x.flags.aligned and (x.ndim != 1 or x.flags.c_contiguous)):
        return x
    return np.array(x, order="C", copy=True)


def _through_copies(call, out, *inputs):
    """Rerun ``call(out, *inputs)``, an entry that answered NOT_TAKEN, after the one repair
    the kernels leave to Python: each input whose strides are not whole elements becomes
    an aligned copy (``_operand``), and an ``out`` that overlaps an input is replaced by
    a temporary, copied into ``out`` afterwards.  Returns the entry's status, or
    NOT_TAKEN at once when there was nothing to repair."""
    fixed = tuple(_operand(x) for x in inputs)
    target = out
    if type(out) is np.ndarray and any(
        type(x) is np.ndarray and np.may_share_memory(out, x) for x in fixed
    ):
        target = np.empty(out.shape, out.dtype)
    if target is out and all(f is x for f, x in zip(fixed, inputs)):
        return _NOT_TAKEN
    status = call(target, *fixed)
    if status == _OK and target is not out:
        np.copyto(out, target)
    return status


def _is_image(x):
    return type(x) is _NDARRAY and x.ndim == 4


def _window_output(x_shape, window, strides, pads, dilation, channels):
    """The (N, OH, OW, channels) of a convolution or pooling with this geometry (the
    primitives' formula), or None when it is empty or the geometry malformed: the
    entry would refuse it, and NumPy reports it."""
    try:
        n, h, w = x_shape[0], x_shape[1], x_shape[2]
        oh = (h + pads[0] + pads[1] - dilation[0] * (window[0] - 1) - 1) // strides[0] + 1
        ow = (w + pads[2] + pads[3] - dilation[1] * (window[1] - 1) - 1) // strides[1] + 1
    except (TypeError, IndexError, ZeroDivisionError):
        return None
    return (n, oh, ow, channels) if oh >= 1 and ow >= 1 else None


def _gemm_through_copies(a, b, c, bias, act, alpha, nt):
    """``_gemm.gemm`` again, through ``_through_copies``, after it answered NOT_TAKEN."""
    return _through_copies(
        lambda c, a, b, bias: _gemm.gemm(a, b, c, bias, act, alpha, False, nt),
        c, a, b, bias,
    )


def _fused_loss(entry, logits, target, grad_scale, out_grad, labels):
    """``(loss, grad)`` of a fused loss entry (softmax_xent_sparse / _dense, sigmoid_bce),
    or None when it does not take the arguments.  Sparse ``labels`` are converted to
    int64 and ``grad_scale`` to the logits' dtype when they are not already (NumPy would
    convert them too)."""
    if type(logits) is not np.ndarray or logits.ndim != 2:
        return None
    loss = np.empty(logits.shape[0], logits.dtype)
    grad = None
    if grad_scale is not None:
        grad = np.empty(logits.shape, logits.dtype) if out_grad is None else out_grad
    nt = _thread_count.get_num_threads()
    status = entry(logits, target, grad_scale, loss, grad, nt)
    if status == _NOT_TAKEN:
        t = target
        if labels and type(target) is np.ndarray:
            t = np.ascontiguousarray(target, dtype=np.int64)
        gs = grad_scale
        if grad_scale is not None:
            gs = np.ascontiguousarray(grad_scale, dtype=logits.dtype)
        if t is not target or gs is not grad_scale:
            status = entry(logits, t, gs, loss, grad, nt)
    return (loss, grad) if status == _OK or _done(status) else None


class NativeOps(NumpyOps):
    """The compiled backend (kernels are added primitive by primitive)."""

    name = "native"

    # ------------------------------------------------------------------ matmul / dense
    # The BLIS-style GEMM of csrc/gemm with its fused bias + activation epilogue
    # (fastnn/_native/_gemm.pyx, _dense.pxi).

    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        """``op(a) @ op(b)`` where ``op`` transposes when asked (by strides, no copy)."""
        if _gemm is not None and _is_matrix(a) and _is_matrix(b):
            a = a.T if transpose_a else a
            b = b.T if transpose_b else b
            c = np.empty((a.shape[0], b.shape[1]), a.dtype) if out is None else out
            nt = _thread_count.get_num_threads()
            status = _gemm.gemm(a, b, c, None, _LINEAR, 0.0, False, nt)
            if status == _NOT_TAKEN:
                status = _gemm_through_copies(a, b, c, None, _LINEAR, 0.0, nt)
            if status == _OK or _done(status):
                return c
            return super().matmul(a, b, out=out)
        return super().matmul(a, b, transpose_a, transpose_b, out=out)

    def dense_forward(self, x, w, b, activation="linear", out=None, alpha=None):
        """``y = act(x @ w + b)`` with bias and activation fused into the GEMM epilogue
        (softmax, being row-wise, runs after it); ``b`` may be None."""
        # Ordered for the training step (out given, an epilogue activation, the entry
        # answering OK): it runs the fewest bytecodes, since at batch 1-32 this Python
        # costs as much as the product.
        # Softmax is row-wise, never a GEMM epilogue (its code is in the shared table,
        # which the entry refuses): the GEMM runs linear, then softmax in place.
        softmax = activation == "softmax"
        code = _LINEAR if softmax else _GEMM_CODES.get(activation)
        if code is not None:
            y = out
            if y is None and _is_matrix(x) and _is_matrix(w):
                y = np.empty((x.shape[0], w.shape[1]), x.dtype)
            a = _DEFAULT_ALPHA.get(activation, 0.0) if alpha is None else _alpha(activation,
                                                                                  alpha)
            status = _gemm.gemm(x, w, y, b, code, a, False, _thread_count.get_num_threads())
            if status == _OK:
                return self.softmax(y, out=y) if softmax else y
            if status == _NOT_TAKEN:
                status = _gemm_through_copies(x, w, y, b, code, a,
                                              _thread_count.get_num_threads())
            if _done(status):
                return self.softmax(y, out=y) if softmax else y
        return super().dense_forward(x, w, b, activation, out=out, alpha=alpha)

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
        """Gradients of ``y = act(x @ w + b)``: ``(dx, dw, db)`` as in NumpyOps.  With
        the training step's buffers given, one native call computes ``dz = dy * act'(y)``,
        ``dw = x.T @ dz``, ``db`` and ``dx = dz @ w.T``; else NumpyOps composes them from
        this class's matmul, bias_grad and activation_backward."""
        code = _GEMM_CODES.get(activation)
        if (
            code is not None
            and out_dw is not None
            and (out_db is not None or not has_bias)
            and (out_dx is not None or not need_dx)
            and type(dy) is _NDARRAY
        ):
            dx = out_dx if need_dx else None
            db = out_db if has_bias else None
            dz = None if code == _LINEAR else self._dz_buffer(dy.shape, dy.dtype)
            status = _gemm.dense_backward(
                x, w, y, dy, code,
                _DEFAULT_ALPHA.get(activation, 0.0) if alpha is None else _alpha(activation,
                                                                                 alpha),
                dz, dx, out_dw, db, _thread_count.get_num_threads(),
            )
            if status == _OK or _done(status):
                return dx, out_dw, db
        return super().dense_backward(
            x, w, y, dy, activation, has_bias, need_dx, out_dx, out_dw, out_db, alpha
        )

    def bias_grad(self, dz, out=None):
        """Column sums of ``dz`` (the bias gradient); rows are summed in order, so the
        result is the same for any thread count."""
        if _gemm is not None and _is_matrix(dz):
            db = np.empty(dz.shape[1], dz.dtype) if out is None else out
            nt = _thread_count.get_num_threads()
            status = _gemm.col_sum(dz, db, nt)
            if status == _NOT_TAKEN:
                status = _through_copies(lambda db, dz: _gemm.col_sum(dz, db, nt), db, dz)
            if _done(status):
                return db
        return super().bias_grad(dz, out=out)

    def _dz_buffer(self, shape, dtype):
        """A scratch array for dense_backward's dz, kept per thread and per shape so
        that training steps reuse it instead of allocating (``numpy_ops.scratch``)."""
        return scratch(shape, dtype, "native dz")

    # ------------------------------------------------------------------ activations
    # csrc/activations.c through fastnn/_native/_elementwise.pyx.

    def activation_forward(self, x, activation, out=None, alpha=None):
        """``f(x)`` for a name in ``activations.ACTIVATIONS`` (``out`` may alias ``x``)."""
        if activation == "softmax":
            return self.softmax(x, out=out)
        code = _EW_CODES.get(activation)
        if code is not None:
            y = _like(x) if out is None else out
            if _done(_ew.act_forward(code, _alpha(activation, alpha), x, y,
                                     _thread_count.get_num_threads())):
                return y
        return super().activation_forward(x, activation, out=out, alpha=alpha)

    def activation_backward(self, dy, y, activation, x=None, out=None, alpha=None):
        """``dL/dx`` given ``dL/dy`` and the output ``y`` (and ``x`` for NEEDS_INPUT)."""
        code = _EW_CODES.get(activation)
        if code is not None:
            dx = _like(dy) if out is None else out
            nt = _thread_count.get_num_threads()
            if code == _SOFTMAX:
                status = _ew.softmax_backward(dy, y, dx, nt)
            else:
                status = _ew.act_backward(code, _alpha(activation, alpha), dy, y, x, dx, nt)
            if _done(status):
                return dx
        return super().activation_backward(dy, y, activation, x=x, out=out, alpha=alpha)

    def softmax(self, x, out=None):
        """Row-wise softmax over the last axis, shifted by the row maximum."""
        if _ew is not None:
            y = _like(x) if out is None else out
            if _done(_ew.softmax(x, y, _thread_count.get_num_threads())):
                return y
        return super().softmax(x, out=out)

    # ------------------------------------------------------------------ fused losses

    def softmax_crossentropy(self, logits, target, sparse, grad_scale=None, out_grad=None):
        """Fused softmax + (sparse) categorical cross-entropy from logits, one pass per
        row; stable for logits of +-1e4."""
        if _ew is not None:
            entry = _ew.softmax_xent_sparse if sparse else _ew.softmax_xent_dense
            done = _fused_loss(entry, logits, target, grad_scale, out_grad, sparse)
            if done is not None:
                return done
        return super().softmax_crossentropy(logits, target, sparse, grad_scale, out_grad)

    def sigmoid_binary_crossentropy(self, logits, target, grad_scale=None, out_grad=None):
        """Fused sigmoid + binary cross-entropy from logits, mean over the last axis."""
        if _ew is not None:
            done = _fused_loss(_ew.sigmoid_bce, logits, target, grad_scale, out_grad, False)
            if done is not None:
                return done
        return super().sigmoid_binary_crossentropy(logits, target, grad_scale, out_grad)

    # ------------------------------------------------------------------ optimizers
    # One native call per step: _optimizers.<kernel>_update checks every array with the
    # NumPy C API and updates them all, each in one fused pass, or returns NOT_TAKEN
    # (nothing updated) when an array does not fit, and NumpyOps does the step.

    def sum_squares(self, x):
        """``sum(x^2)`` as a Python float, the same for every thread count."""
        total = None if _opt is None else _opt.sum_squares(x, _thread_count.get_num_threads())
        return super().sum_squares(x) if total is None else total

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
        if _ew is not None and (out is None or getattr(out, "shape", None) == shape):
            mask = np.empty(shape, dtype) if out is None else out
            if _done(_ew.dropout_mask(
                int(seed) & 0xFFFFFFFFFFFFFFFF, int(stream) & 0xFFFFFFFFFFFFFFFF,
                float(rate), mask, _thread_count.get_num_threads(),
            )):
                return mask
        return super().dropout_mask(shape, rate, seed, stream, dtype, out=out)

    # ------------------------------------------------------------------ convolution
    # csrc/conv through fastnn/_native/_conv.pyx: im2col tiles into the GEMM, pooling on
    # NHWC.  Every array C-contiguous; anything else goes to NumpyOps.

    def conv2d_forward(self, x, w, b, strides, pads, dilation=(1, 1), activation="linear",
                       out=None, alpha=None):
        """``y = act(conv(x, w) + b)`` with bias and activation in the GEMM's epilogue
        (softmax over the channels runs after it)."""
        code = _CONV_CODES.get(activation)
        if code is not None and _is_image(x) and _is_image(w):
            softmax = activation == "softmax"
            shape = _window_output(x.shape, w.shape, strides, pads, dilation, w.shape[3])
            y = np.empty(shape, x.dtype) if out is None and shape else out
            if _done(_conv.conv2d_forward(
                    x, w, b, y, *strides, *pads, *dilation, _LINEAR if softmax else code,
                    _alpha(activation, alpha), _thread_count.get_num_threads())):
                if softmax:
                    self.softmax(y.reshape(-1, y.shape[3]), out=y.reshape(-1, y.shape[3]))
                return y
        return super().conv2d_forward(x, w, b, strides, pads, dilation, activation,
                                      out=out, alpha=alpha)

    def conv2d_backward(self, x, w, y, dy, strides, pads, dilation=(1, 1),
                        activation="linear", has_bias=True, need_dx=True, out_dx=None,
                        out_dw=None, out_db=None, alpha=None):
        """``(dx, dw, db)`` of ``conv2d_forward`` in one native call: dz = dy * act'(y),
        dw over patch tiles, db, and dx by col2im (None where not asked for)."""
        code = _CONV_CODES.get(activation)
        if code is not None and _is_image(x) and _is_image(w) and _is_image(dy):
            if activation == "softmax":  # dz first, by the row-wise kernel
                f = dy.shape[3]
                dy = self.activation_backward(dy.reshape(-1, f), y.reshape(-1, f),
                                              "softmax").reshape(dy.shape)
                code = _LINEAR
            dw = np.empty(w.shape, w.dtype) if out_dw is None else out_dw
            db = None if not has_bias else np.empty(w.shape[3], w.dtype) if out_db is None \
                else out_db
            dx = None if not need_dx else np.empty(x.shape, x.dtype) if out_dx is None \
                else out_dx
            if _done(_conv.conv2d_backward(
                    x, w, y, dy, *strides, *pads, *dilation, code, _alpha(activation, alpha),
                    dx, dw, db, _thread_count.get_num_threads())):
                return dx, dw, db
            if code == _LINEAR:
                activation = "linear"  # dy is dz now (softmax was taken above)
        return super().conv2d_backward(x, w, y, dy, strides, pads, dilation, activation,
                                       has_bias, need_dx, out_dx, out_dw, out_db, alpha)

    def pool2d_forward(self, x, pool_size, strides, pads, mode, out=None, out_index=None):
        """Max (with int32 argmax indices) or average pooling of NHWC images."""
        code = _POOL_MODES.get(mode)
        if code is not None and _is_image(x):
            shape = _window_output(x.shape, pool_size, strides, pads, (1, 1), x.shape[3])
            y = np.empty(shape, x.dtype) if out is None and shape else out
            index = None
            if mode == "max":
                index = np.empty(shape, np.int32) if out_index is None and shape else out_index
            if _done(_conv.pool2d_forward(x, y, index, *pool_size, *strides, *pads, code,
                                          _thread_count.get_num_threads())):
                return y, index
        return super().pool2d_forward(x, pool_size, strides, pads, mode, out=out,
                                      out_index=out_index)

    def pool2d_backward(self, dy, index, x_shape, pool_size, strides, pads, mode,
                        out=None):
        """The input gradient of ``pool2d_forward`` (overlapping windows add up)."""
        code = _POOL_MODES.get(mode)
        if code is not None and type(dy) is _NDARRAY:
            dx = np.empty(x_shape, dy.dtype) if out is None else out
            if _done(_conv.pool2d_backward(dy, index, dx, *pool_size, *strides, *pads, code,
                                           _thread_count.get_num_threads())):
                return dx
        return super().pool2d_backward(dy, index, x_shape, pool_size, strides, pads, mode,
                                       out=out)
