"""The optimizer step's precision: float32 arithmetic for float32 variables, bounded.

The native kernels (csrc/optimizers_tmpl.h) and NumpyOps compute every element of a
float32 variable in float32, as PyTorch's optimizers do.  docs/benchmarks.md ("Speed
notes") derives how far one float32 Adam step can then be from the exact step; these
tests check that bound element by element, for the native kernel and for NumpyOps,
against the step evaluated in float64 from the same float32 inputs.  In float64 the
same bound, with float64's unit roundoff, is tight.  They also check that the step is
the same for 1 and 2 threads when the variables are large enough to be split.
"""

import copy

import numpy as np
import pytest

from fastnn.backend.numpy_ops import NumpyOps
from fastnn.optimizers.rules import AdamRule
from numthreads import run_on
from rule_variants import VARIANTS

_opt = pytest.importorskip("fastnn._native._optimizers")
from fastnn.backend.native_ops import NativeOps  # noqa: E402

NUMPY = NumpyOps()
NATIVE = NativeOps()
BACKENDS = {"native": NATIVE, "numpy": NUMPY}
# Awkward sizes: below and above a SIMD width, a block (8192) and a thread's grain.
SHAPES = [(1,), (7,), (33, 17), (8193,), (129, 515)]
# The "exact" step: x86's 80-bit long double, 11 bits beyond float64 (where long double
# is float64, the float64 case can only check the bound, not that it is approached).
EXACT = np.longdouble


def _unit_roundoff(dtype):
    return float(np.finfo(dtype).eps) / 2


def _state(rule, dtype, seed, scale=1.0):
    """Parameters, gradients and slots (Adam's m and v as after a few steps) per shape."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]
    used = {name for name, _ in rule.slots()}
    slots = []
    for name in rule.SLOTS:
        if name not in used:
            slots.append(None)
        elif name in ("v", "v_hat", "accumulator", "velocity") and rule.kernel != "sgd":
            # + 0.5: a centered RMSprop's v - a^2 stays positive
            slots.append([((rng.standard_normal(s) ** 2 + 0.5) * scale * scale).astype(dtype)
                          for s in SHAPES])
        elif name == "average_gradient":  # small beside sqrt(velocity): v - a^2 > 0
            slots.append([(rng.standard_normal(s) * 0.1 * scale).astype(dtype)
                          for s in SHAPES])
        else:
            slots.append([(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES])
    return params, grads, slots


def _exact_adam(rule, p, g, m, v, v_hat, lr, step, weight_decay, grad_scale, clipvalue):
    """One Adam step in EXACT precision from float32 (or float64) inputs: (m', v', v_hat', g, pd),
    everything but the parameter's last line, which the bound takes from the kernel's
    own m' and v' (see _check_adam_step)."""
    g = np.asarray(g, EXACT)
    if clipvalue:
        g = np.clip(g, -clipvalue, clipvalue)
    g = g * grad_scale
    m, v = np.asarray(m, EXACT), np.asarray(v, EXACT)
    m_new = m + (g - m) * (1.0 - rule.beta_1)
    v_new = v + (g * g - v) * (1.0 - rule.beta_2)
    vh_new = None if v_hat is None else np.maximum(np.asarray(v_hat, EXACT), v_new)
    pd = np.asarray(p, EXACT) * (1.0 - lr * weight_decay)
    return m_new, v_new, vh_new, g, pd


def _check_adam_step(rule, before, after, lr, step, weight_decay, grad_scale, clipvalue,
                     dtype):
    """Every element of one Adam step within the bound of docs/benchmarks.md."""
    u = _unit_roundoff(dtype)
    c1, c2 = 1.0 - rule.beta_1, 1.0 - rule.beta_2
    p, g, m, v, v_hat = before
    p2, m2, v2, vh2 = (np.asarray(a, EXACT) if a is not None else None for a in after)
    m_x, v_x, vh_x, g_x, pd = _exact_adam(rule, p, g, m, v, v_hat, lr, step, weight_decay,
                                          grad_scale, clipvalue)
    m64, v64 = np.asarray(m, EXACT), np.asarray(v, EXACT)
    # m' = m + (g - m) c1: the sum, the difference and the product each round once, the
    # prepared gradient once (when scaled) and c1 once.
    bound_m = u * np.abs(m_x) + 3.01 * u * c1 * np.abs(g_x - m64) + 1.01 * u * c1 * np.abs(g_x)
    # v' = v + (g^2 - v) c2: as m', with g^2 rounding once more (and g's rounding doubled).
    bound_v = (u * np.abs(v_x) + 3.01 * u * c2 * np.abs(g_x * g_x - v64)
               + 3.01 * u * c2 * g_x * g_x)
    assert np.all(np.abs(m2 - m_x) <= bound_m), "m outside its bound"
    assert np.all(np.abs(v2 - v_x) <= bound_v), "v outside its bound"
    denom_v = v2
    if vh2 is not None:
        np.testing.assert_array_equal(vh2, np.maximum(np.asarray(v_hat, EXACT), v2))
        denom_v = vh2
    # p' = pd - m'/(sqrt(v') + eps) * alpha from the kernel's own m', v': sqrt, the add,
    # the division and the product round once each, alpha and eps once each when
    # rounded to the dtype, the subtraction once; with a weight decay d = lr*wd, the
    # decayed pd = p - d*p rounds once more, and d, the product and pd each once.
    alpha = lr * np.sqrt(1.0 - rule.beta_2**step) / (1.0 - rule.beta_1**step)
    q = m2 / (np.sqrt(denom_v) + rule.epsilon) * alpha
    p_x = pd - q
    p64 = np.asarray(p, EXACT)
    bound_p = u * np.abs(p_x) + 6.1 * u * np.abs(q)
    if weight_decay:
        bound_p = bound_p + 1.01 * u * np.abs(pd) + 2.01 * u * lr * weight_decay * np.abs(p64)
    assert np.all(np.abs(p2 - p_x) <= bound_p), "parameter outside its bound"
    return float(np.max(np.abs(p2 - p_x) / np.maximum(bound_p, np.finfo(EXACT).tiny)))


@pytest.mark.parametrize("backend_name", ["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("options", [
    dict(weight_decay=0.0, grad_scale=1.0, clipvalue=0.0),
    dict(weight_decay=0.004, grad_scale=0.37, clipvalue=0.8),
])
def test_adam_step_within_the_float_bound(backend_name, dtype, amsgrad, options):
    """Five Adam steps; each within the derived bound of the exact step from its inputs."""
    rule = AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=amsgrad)
    ops = BACKENDS[backend_name]
    params, grads, slots = _state(rule, dtype, seed=4 + amsgrad, scale=1e-2)
    n = len(params)
    worst = 0.0
    for step in range(1, 6):
        before = copy.deepcopy((params, slots))
        ops.multi_update(rule, params, grads, slots, [options["weight_decay"]] * n,
                         [options["grad_scale"]] * n, lr=1e-3, step=step,
                         clipvalue=options["clipvalue"])
        for i in range(n):
            v_hat = (lambda s: None if s[2] is None else s[2][i])
            state_before = (before[0][i], grads[i], before[1][0][i], before[1][1][i],
                            v_hat(before[1]))
            state_after = (params[i], slots[0][i], slots[1][i], v_hat(slots))
            worst = max(worst, _check_adam_step(rule, state_before, state_after, 1e-3, step,
                                                options["weight_decay"],
                                                options["grad_scale"], options["clipvalue"],
                                                dtype))
    # The step does round (the check compares against something real), and the bound,
    # a few units of the dtype's roundoff, is reached to within a small factor.
    if np.finfo(EXACT).eps < np.finfo(dtype).eps:
        assert 0.05 < worst <= 1.0


def test_float32_adam_is_float32_arithmetic():
    """The float32 step is not a float64 step rounded at the end: over many elements some
    differ from the correctly rounded exact result (a float64 evaluation would round to
    it almost everywhere), yet all lie within the bound above."""
    rule = AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)
    rng = np.random.default_rng(9)
    shape = (20000,)
    p = rng.standard_normal(shape).astype(np.float32) * np.float32(1e-3)
    g = rng.standard_normal(shape).astype(np.float32)
    for ops in (NATIVE, NUMPY):
        m = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        v = (rng.standard_normal(shape) ** 2).astype(np.float32)
        p2, m2, v2 = p.copy(), m.copy(), v.copy()
        ops.multi_update(rule, [p2], [g], ([m2], [v2], None), [0.0], [1.0], lr=0.1, step=3)
        _, v_x, _, _, pd = _exact_adam(rule, p, g, m, v, None, 0.1, 3, 0.0, 1.0, 0.0)
        alpha = 0.1 * np.sqrt(1.0 - 0.999**3) / (1.0 - 0.9**3)
        rounded = (pd - m2.astype(np.float64) / (np.sqrt(v2.astype(np.float64)) + 1e-7)
                   * alpha).astype(np.float32)
        assert np.count_nonzero(p2 != rounded) > 100


@pytest.mark.parametrize("rule", VARIANTS, ids=lambda r: repr(r)[:60])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_step_matches_numpy_backend(rule, dtype):
    """Every rule: the native step against NumpyOps' within a few units of roundoff of
    the magnitudes involved (the two run the same operations in the same order, so with
    the default build they agree exactly; the bound allows for a compiler that contracts
    a multiply-add)."""
    params, grads, slots = _state(rule, dtype, seed=11)
    n = len(params)
    args = dict(lr=0.01, step=3, clipvalue=0.9)
    decays, scales = [0.01] * n, [0.6] * n
    ref = copy.deepcopy((params, slots))
    got = copy.deepcopy((params, slots))
    NUMPY.multi_update(rule, ref[0], grads, ref[1], decays, scales, **args)
    NATIVE.multi_update(rule, got[0], grads, got[1], decays, scales, **args)
    u = _unit_roundoff(dtype)
    before = [params] + [s for s in slots if s is not None]
    refs = [ref[0]] + [s for s in ref[1] if s is not None]
    gots = [got[0]] + [s for s in got[1] if s is not None]
    for olds, news, outs in zip(before, refs, gots):
        for old, new, out in zip(olds, news, outs):
            # both results hold a few roundings of terms no larger than |old| + |new|
            bound = 16 * u * (np.abs(old.astype(np.float64)) + np.abs(new))
            assert np.all(np.abs(out.astype(np.float64) - new) <= bound)


@pytest.mark.parametrize("rule", VARIANTS, ids=lambda r: repr(r)[:60])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_is_the_same_on_1_and_2_threads(rule, dtype):
    """One parallel region for all variables: the blocks it shares out never change a
    result (the variables total ~85K elements, enough for the second thread)."""
    params, grads, slots = _state(rule, dtype, seed=21)
    n = len(params)
    results = []
    for nt in (1, 2):
        p, s = copy.deepcopy((params, slots))
        run_on(nt, NATIVE.multi_update, rule, p, grads, s, [0.001] * n, [1.0] * n,
               lr=0.01, step=2, clipvalue=0.0)
        results.append((p, s))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    for sa, sb in zip(results[0][1], results[1][1]):
        if sa is not None:
            for a, b in zip(sa, sb):
                np.testing.assert_array_equal(a, b)
