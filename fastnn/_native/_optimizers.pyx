# Multi-tensor optimizer updates: one entry per rule over csrc/optimizers.c.
#
# Design
# - A training step updates all of a model's variables in one call (Optimizer.apply ->
#   ops.multi_update -> NativeOps.multi_update -> <rule>_update here -> fnn_<rule>_update):
#   one Python -> C transition per step, whatever the number of variables.
# - Each entry receives the rule's record (fastnn.optimizers.rules) and copies its fields
#   into the rule's C struct (fnn_<rule>_params) in its first line, the one place the
#   native side spells them.  A field the record lacks raises AttributeError there, so a
#   hyperparameter can never quietly send a step to NumPy.
# - The arrays come as Python lists and are checked here, once, with the NumPy C API
#   (ndarray, dtype, byte order, C order, alignment, writeable, shape equal to its
#   parameter's): a few nanoseconds per array.  When one does not fit nothing is updated
#   and the entry returns NOT_TAKEN; NativeOps then calls NumpyOps.multi_update, which
#   takes any layout.  That each variable has the slots its rule uses is checked in C.
# - The dtype is passed to C as a value (fnn_dtype) and the rule's struct type picks
#   the C entry at compile time (the fused type _Params), so there is one body here for
#   every rule and both dtypes.

from cpython.mem cimport PyMem_Free, PyMem_Malloc

include "_arrays.pxi"


cdef extern from "optimizers.h" nogil:
    enum:
        FNN_OPT_MAX_SLOTS
    ctypedef struct fnn_opt_var:
        void *param
        const void *grad
        void *slot[3]  # FNN_OPT_MAX_SLOTS
        Py_ssize_t n
        double weight_decay
        double grad_scale
    ctypedef struct fnn_opt_step:
        double lr
        double clipvalue
        double step
    ctypedef struct fnn_sgd_params:
        double momentum
        int nesterov
    ctypedef struct fnn_adagrad_params:
        double epsilon
    ctypedef struct fnn_rmsprop_params:
        double rho
        double momentum
        double epsilon
        int centered
    ctypedef struct fnn_adam_params:
        double beta_1
        double beta_2
        double epsilon
        int amsgrad

    fnn_status fnn_sgd_update(fnn_dtype dtype, const fnn_opt_var *vars,
                              Py_ssize_t count, const fnn_sgd_params *hp,
                              const fnn_opt_step *step, int n_threads)
    fnn_status fnn_adagrad_update(fnn_dtype dtype, const fnn_opt_var *vars,
                                  Py_ssize_t count, const fnn_adagrad_params *hp,
                                  const fnn_opt_step *step, int n_threads)
    fnn_status fnn_rmsprop_update(fnn_dtype dtype, const fnn_opt_var *vars,
                                  Py_ssize_t count, const fnn_rmsprop_params *hp,
                                  const fnn_opt_step *step, int n_threads)
    fnn_status fnn_adam_update(fnn_dtype dtype, const fnn_opt_var *vars,
                               Py_ssize_t count, const fnn_adam_params *hp,
                               const fnn_opt_step *step, int n_threads)
    fnn_status fnn_sum_squares(fnn_dtype dtype, const void *x, Py_ssize_t n, double *out,
                               int n_threads)


ctypedef fused _Params:
    fnn_sgd_params
    fnn_adagrad_params
    fnn_rmsprop_params
    fnn_adam_params


# ---------------------------------------------------------------------- the entries
# Each: rule (the record), params and grads (lists of arrays), slots (one list of arrays
# per name of rule.SLOTS, or None where unused), weight_decays and grad_scales (one float
# per variable), then lr, step, clipvalue and n_threads.  Returns OK or NOT_TAKEN.

def sgd_update(rule, list params, list grads, slots, list weight_decays,
               list grad_scales, double lr, double step, double clipvalue, int n_threads):
    """``rules.SGDRule`` on every variable (slots: velocity)."""
    cdef fnn_sgd_params hp = fnn_sgd_params(momentum=rule.momentum, nesterov=rule.nesterov)
    return _update(&hp, params, grads, slots, weight_decays, grad_scales, lr, step,
                   clipvalue, n_threads)


def adagrad_update(rule, list params, list grads, slots, list weight_decays,
                   list grad_scales, double lr, double step, double clipvalue,
                   int n_threads):
    """``rules.AdagradRule`` on every variable (slots: accumulator)."""
    cdef fnn_adagrad_params hp = fnn_adagrad_params(epsilon=rule.epsilon)
    return _update(&hp, params, grads, slots, weight_decays, grad_scales, lr, step,
                   clipvalue, n_threads)


def rmsprop_update(rule, list params, list grads, slots, list weight_decays,
                   list grad_scales, double lr, double step, double clipvalue,
                   int n_threads):
    """``rules.RMSpropRule`` on every variable (slots: velocity, momentum buffer,
    average gradient)."""
    cdef fnn_rmsprop_params hp = fnn_rmsprop_params(
        rho=rule.rho, momentum=rule.momentum, epsilon=rule.epsilon, centered=rule.centered)
    return _update(&hp, params, grads, slots, weight_decays, grad_scales, lr, step,
                   clipvalue, n_threads)


def adam_update(rule, list params, list grads, slots, list weight_decays,
                list grad_scales, double lr, double step, double clipvalue, int n_threads):
    """``rules.AdamRule`` (Adam, AdamW) on every variable (slots: m, v, v_hat)."""
    cdef fnn_adam_params hp = fnn_adam_params(
        beta_1=rule.beta_1, beta_2=rule.beta_2, epsilon=rule.epsilon, amsgrad=rule.amsgrad)
    return _update(&hp, params, grads, slots, weight_decays, grad_scales, lr, step,
                   clipvalue, n_threads)


# ---------------------------------------------------------------------- shared body

cdef int _update(_Params *hp, list params, list grads, object slots, list weight_decays,
                 list grad_scales, double lr, double step, double clipvalue,
                 int n_threads) except -99:
    """Gather and check every array, then run the rule's C entry without the GIL."""
    cdef fnn_opt_var *vars = NULL
    cdef fnn_dtype dtype
    cdef fnn_opt_step call
    cdef Py_ssize_t count = len(params)
    cdef int status, typenum
    call.lr = lr
    call.clipvalue = clipvalue
    call.step = step
    if type(slots) is not tuple:
        slots = tuple(slots)
    if len(<tuple>slots) > FNN_OPT_MAX_SLOTS:
        raise ValueError(f"At most {FNN_OPT_MAX_SLOTS} slot lists. Received: "
                         f"{len(<tuple>slots)}")
    typenum = _float_type(params[0]) if count else -1
    if typenum < 0:
        return FNN_NOT_TAKEN
    dtype = _dtype_code(typenum)
    vars = <fnn_opt_var *>PyMem_Malloc(count * sizeof(fnn_opt_var))
    if vars == NULL:
        raise MemoryError()
    try:
        status = _gather(vars, count, typenum, params, grads, <tuple>slots, weight_decays,
                         grad_scales)
        if status == FNN_OK:
            with nogil:
                if _Params is fnn_sgd_params:
                    status = fnn_sgd_update(dtype, vars, count, hp, &call, n_threads)
                elif _Params is fnn_adagrad_params:
                    status = fnn_adagrad_update(dtype, vars, count, hp, &call, n_threads)
                elif _Params is fnn_rmsprop_params:
                    status = fnn_rmsprop_update(dtype, vars, count, hp, &call, n_threads)
                else:
                    status = fnn_adam_update(dtype, vars, count, hp, &call, n_threads)
        return status
    finally:
        PyMem_Free(vars)


cdef int _gather(fnn_opt_var *vars, Py_ssize_t count, int typenum, list params,
                 list grads, tuple slots, list weight_decays,
                 list grad_scales) except -99:
    """Fill vars[0:count] from the lists: OK, or NOT_TAKEN when an array does not fit."""
    cdef Py_ssize_t t, i, nslots = len(slots)
    cdef fnn_opt_var *x
    cdef cnp.ndarray p
    if len(grads) != count or len(weight_decays) != count or len(grad_scales) != count:
        return FNN_NOT_TAKEN
    for i in range(nslots):
        row = slots[i]
        if row is not None and (type(row) is not list or len(<list>row) != count):
            return FNN_NOT_TAKEN
    for t in range(count):
        x = &vars[t]
        obj = params[t]
        if not _fits_as(obj, typenum, -1, _OUT_C):
            return FNN_NOT_TAKEN
        p = <cnp.ndarray>obj
        x.param = cnp.PyArray_DATA(p)
        x.n = cnp.PyArray_SIZE(p)
        obj = grads[t]
        if not (_fits_as(obj, typenum, -1, _IN_C) and _same_shape(obj, p)):
            return FNN_NOT_TAKEN
        x.grad = cnp.PyArray_DATA(<cnp.ndarray>obj)
        for i in range(FNN_OPT_MAX_SLOTS):
            x.slot[i] = NULL
            if i < nslots and slots[i] is not None:
                obj = (<list>slots[i])[t]
                if not (_fits_as(obj, typenum, -1, _OUT_C) and _same_shape(obj, p)):
                    return FNN_NOT_TAKEN
                x.slot[i] = cnp.PyArray_DATA(<cnp.ndarray>obj)
        x.weight_decay = weight_decays[t]
        x.grad_scale = grad_scales[t]
    return FNN_OK


# ---------------------------------------------------------------------- clipnorm

def sum_squares(x, int n_threads):
    """``sum(x^2)`` of a C-contiguous float32/float64 array as a Python float, the same
    for every thread count; None when ``x`` does not fit (NativeOps then asks NumPy)."""
    cdef int t = _float_type(x)
    cdef double total = 0.0
    cdef fnn_status status
    cdef const void *data
    cdef Py_ssize_t n
    if t < 0 or not _fits_as(x, t, -1, _IN_C):
        return None
    data, n = _data(x), _size(x)
    with nogil:
        status = fnn_sum_squares(_dtype_code(t), data, n, &total, n_threads)
    return total if status == FNN_OK else None
