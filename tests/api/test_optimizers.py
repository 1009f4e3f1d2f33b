"""fastnn.optimizers: the update rules, clipping, weight decay, state, config and errors.

Expected values come from each rule's formula written out here in float64 Python
scalars (independent of the ops code), and from PyTorch as an oracle when installed.
Every numeric test runs on each available backend through ``ops_backend``.
"""

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest

from fastnn import optimizers
from fastnn.optimizers import rules
from fastnn.variables import Variable

W0 = [0.5, -1.5, 2.0]
GRADS = [[0.2, -0.4, 1.0], [-0.3, 0.1, 0.5], [0.6, 0.0, -0.8]]


def run_steps(opt, w0=W0, grads=GRADS, dtype=np.float64):
    """Apply ``grads`` one step each to a fresh variable; return its final value."""
    var = Variable(np.array(w0, dtype=dtype), "dense/kernel")
    for g in grads:
        opt.apply([np.array(g, dtype=dtype)], [var])
    return var.value


def elementwise(rule, w0=W0, grads=GRADS):
    """Run a scalar formula ``rule(w, [g per step]) -> w`` on each element."""
    return np.array([rule(w, [g[j] for g in grads]) for j, w in enumerate(w0)])


# ---------------------------------------------------------------------- the formulas
def sgd_formula(lr, momentum=0.0, nesterov=False):
    def rule(w, gs):
        v = 0.0
        for g in gs:
            if momentum == 0.0:
                w = w - lr * g
                continue
            v = momentum * v - lr * g
            w = w + (momentum * v - lr * g if nesterov else v)
        return w
    return rule


def adagrad_formula(lr, init=0.1, eps=1e-7):
    def rule(w, gs):
        acc = init
        for g in gs:
            acc += g * g
            w -= lr * g / math.sqrt(acc + eps)
        return w
    return rule


def rmsprop_formula(lr, rho=0.9, eps=1e-7, momentum=0.0, centered=False):
    def rule(w, gs):
        v = mg = buf = 0.0
        for g in gs:
            v = rho * v + (1 - rho) * g * g
            mg = rho * mg + (1 - rho) * g
            denom = v - mg * mg if centered else v
            step = lr * g / math.sqrt(denom + eps)
            buf = momentum * buf + step
            w -= buf
        return w
    return rule


def adam_formula(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=0.0):
    def rule(w, gs):
        m = v = vhat = 0.0
        for t, g in enumerate(gs, start=1):
            w -= lr * wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vhat = max(vhat, v)
            alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            w -= alpha * m / (math.sqrt(vhat if amsgrad else v) + eps)
        return w
    return rule


RULES = [
    (lambda: optimizers.SGD(learning_rate=0.1), sgd_formula(0.1)),
    (lambda: optimizers.SGD(0.1, momentum=0.9), sgd_formula(0.1, 0.9)),
    (lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), sgd_formula(0.1, 0.9, True)),
    (lambda: optimizers.Adagrad(0.05), adagrad_formula(0.05)),
    (lambda: optimizers.Adagrad(0.05, initial_accumulator_value=0.5, epsilon=1e-3),
     adagrad_formula(0.05, 0.5, 1e-3)),
    (lambda: optimizers.RMSprop(0.01), rmsprop_formula(0.01)),
    (lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5),
     rmsprop_formula(0.01, rho=0.8, momentum=0.5)),
    (lambda: optimizers.RMSprop(0.01, centered=True, epsilon=1e-3),
     rmsprop_formula(0.01, eps=1e-3, centered=True)),
    (lambda: optimizers.Adam(0.01), adam_formula(0.01)),
    (lambda: optimizers.Adam(0.01, beta_1=0.5, beta_2=0.7, amsgrad=True),
     adam_formula(0.01, 0.5, 0.7, amsgrad=True)),
    (lambda: optimizers.AdamW(0.01, weight_decay=0.1), adam_formula(0.01, wd=0.1)),
]
RULE_IDS = ["sgd", "sgd_momentum", "sgd_nesterov", "adagrad", "adagrad_init", "rmsprop",
            "rmsprop_momentum", "rmsprop_centered", "adam", "adam_amsgrad", "adamw"]


@pytest.mark.parametrize("make, rule", RULES, ids=RULE_IDS)
def test_rule_matches_formula(ops_backend, make, rule):
    for n in (1, 2, 3):
        opt = make()
        np.testing.assert_allclose(
            run_steps(opt, grads=GRADS[:n]), elementwise(rule, grads=GRADS[:n]),
            rtol=1e-12, atol=1e-14,
        )
        assert opt.iterations == n


def test_sgd_momentum_by_hand(ops_backend):
    # v1 = -0.1 g; w1 = w + v1; v2 = 0.9 v1 - 0.1 g = -0.19 g; w2 = w - 0.29 g
    g = np.array([1.0, -2.0])
    var = Variable(np.array([1.0, 1.0]), "w")
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.apply([g], [var])
    opt.apply([g], [var])
    np.testing.assert_allclose(var.value, [1.0 - 0.29, 1.0 + 0.58], rtol=1e-13)


@pytest.mark.parametrize("make, rule", RULES, ids=RULE_IDS)
def test_float32_stays_float32(ops_backend, make, rule):
    opt = make()
    w = run_steps(opt, dtype=np.float32)
    assert w.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.variables[2:])
    np.testing.assert_allclose(w, elementwise(rule), rtol=1e-5, atol=1e-6)


def test_defaults_follow_keras():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.SGD().name == "SGD"
    for cls in (optimizers.Adam, optimizers.AdamW, optimizers.RMSprop, optimizers.Adagrad):
        assert cls().learning_rate == 0.001
    adam = optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.9, 0.999, 1e-7, False)
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.Adam().weight_decay is None
    rms = optimizers.RMSprop()
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    ada = optimizers.Adagrad()
    assert (ada.initial_accumulator_value, ada.epsilon) == (0.1, 1e-7)
    assert optimizers.Adagrad().name.startswith("adagrad")
    assert optimizers.RMSProp is optimizers.RMSprop


# ---------------------------------------------------------------------- clipping
def two_vars():
    return [Variable(np.array([1.0, 1.0]), "a"), Variable(np.array([0.0, 0.0, 0.0]), "b")]


G_BIG = np.array([3.0, 4.0])          # norm 5
G_SMALL = np.array([0.3, 0.0, -0.4])  # norm 0.5


def test_clipnorm_is_per_variable(ops_backend):
    vs = two_vars()
    optimizers.SGD(1.0, clipnorm=1.0).apply([G_BIG, G_SMALL], vs)
    np.testing.assert_allclose(vs[0].value, [1.0 - 0.6, 1.0 - 0.8], rtol=1e-13)
    np.testing.assert_allclose(vs[1].value, -G_SMALL, rtol=1e-13)


def test_global_clipnorm_scales_all_together(ops_backend):
    vs = two_vars()
    optimizers.SGD(1.0, global_clipnorm=1.0).apply([G_BIG, G_SMALL], vs)
    scale = 1.0 / math.sqrt(25.0 + 0.25)
    np.testing.assert_allclose(vs[0].value, 1.0 - scale * G_BIG, rtol=1e-13)
    np.testing.assert_allclose(vs[1].value, -scale * G_SMALL, rtol=1e-13)
    vs = two_vars()  # already inside the ball: untouched
    optimizers.SGD(1.0, global_clipnorm=10.0).apply([G_BIG, G_SMALL], vs)
    np.testing.assert_allclose(vs[0].value, 1.0 - G_BIG, rtol=1e-13)


def test_clipvalue_clips_elements(ops_backend):
    vs = two_vars()
    optimizers.SGD(1.0, clipvalue=0.35).apply([G_BIG, G_SMALL], vs)
    np.testing.assert_allclose(vs[0].value, [0.65, 0.65], rtol=1e-13)
    np.testing.assert_allclose(vs[1].value, [-0.3, 0.0, 0.35], rtol=1e-13)


def test_clipnorm_with_adam(ops_backend):
    # Adam's first step is sign-like, so compare against unclipped Adam on clipped grads.
    a, b = two_vars(), two_vars()
    optimizers.Adam(0.1, clipnorm=1.0).apply([G_BIG, G_SMALL], a)
    optimizers.Adam(0.1).apply([G_BIG / 5.0, G_SMALL], b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.value, y.value, rtol=1e-12)


# ---------------------------------------------------------------------- weight decay
def test_weight_decay_is_decoupled(ops_backend):
    # w <- w - lr*wd*w, then w <- w - lr*g
    var = Variable(np.array([2.0, -4.0]), "w")
    optimizers.SGD(0.1, weight_decay=0.5).apply([np.array([1.0, 1.0])], [var])
    np.testing.assert_allclose(var.value, [2.0 * 0.95 - 0.1, -4.0 * 0.95 - 0.1], rtol=1e-13)


def test_weight_decay_applies_to_all_unless_excluded(ops_backend):
    kernel = Variable(np.array([1.0]), "dense/kernel")
    bias = Variable(np.array([1.0]), "dense/bias")
    zero = [np.zeros(1), np.zeros(1)]
    optimizers.SGD(0.1, weight_decay=1.0).apply(zero, [kernel, bias])
    np.testing.assert_allclose([kernel.value[0], bias.value[0]], [0.9, 0.9])

    kernel.assign([1.0])
    bias.assign([1.0])
    opt = optimizers.AdamW(0.1, weight_decay=1.0)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply(zero, [kernel, bias])
    np.testing.assert_allclose([kernel.value[0], bias.value[0]], [0.9, 1.0])

    kernel.assign([1.0])
    opt = optimizers.AdamW(0.1, weight_decay=1.0)
    opt.exclude_from_weight_decay(var_list=[kernel])
    opt.apply(zero, [kernel, bias])
    assert kernel.value[0] == 1.0
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["x"])


# ---------------------------------------------------------------------- the API
def test_lr_alias_and_learning_rate_property():
    opt = optimizers.RMSProp(lr=0.001)
    assert isinstance(opt, optimizers.RMSprop) and opt.learning_rate == 0.001
    assert optimizers.SGD(lr=0.5).learning_rate == 0.5
    for both in ({"learning_rate": 0.2, "lr": 0.5}, {"learning_rate": 0.01, "lr": 0.5}):
        with pytest.raises(TypeError, match="lr"):
            optimizers.SGD(**both)
    with pytest.raises(TypeError, match="momentun"):
        optimizers.SGD(momentun=0.9)
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25 and isinstance(opt.learning_rate, float)
    opt.learning_rate = np.float32(0.5)
    assert float(opt.learning_rate) == 0.5 and opt.lr == 0.5
    opt.lr = 0.125
    assert opt.learning_rate == 0.125
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    assert opt.get_config()["learning_rate"] == 0.125


def test_keras_only_arguments():
    with pytest.warns(UserWarning, match="decay"):
        optimizers.SGD(0.01, decay=1e-6, momentum=0.9, nesterov=True)
    optimizers.Adam(use_ema=False, loss_scale_factor=None)  # Keras config defaults
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.Adam(use_ema=True)


def test_learning_rate_change_takes_effect(ops_backend):
    var = Variable(np.array([1.0]), "w")
    opt = optimizers.SGD(0.1)
    opt.apply([np.array([1.0])], [var])
    opt.learning_rate = 0.01
    opt.apply([np.array([1.0])], [var])
    np.testing.assert_allclose(var.value, [1.0 - 0.1 - 0.01], rtol=1e-13)


def test_apply_gradients_pairs(ops_backend):
    vs = two_vars()
    opt = optimizers.SGD(1.0)
    assert opt.apply_gradients(zip([G_BIG, G_SMALL], vs)) == 1
    np.testing.assert_allclose(vs[0].value, 1.0 - G_BIG)
    assert opt.iterations == 1


def test_none_gradient_skips_variable(ops_backend):
    vs = two_vars()
    opt = optimizers.Adam(0.1)
    with pytest.warns(UserWarning, match="do not exist"):
        opt.apply([None, G_SMALL], vs)
    np.testing.assert_array_equal(vs[0].value, [1.0, 1.0])
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply([None, None], vs)


def test_bare_arrays_are_accepted(ops_backend):
    w = np.array([1.0, 2.0])
    optimizers.SGD(0.5).apply([np.array([1.0, 1.0])], [w])
    np.testing.assert_allclose(w, [0.5, 1.5])


def test_gradient_checks(ops_backend):
    vs = two_vars()
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="one gradient per variable"):
        opt.apply([G_BIG], vs)
    with pytest.raises(ValueError, match=r"Received: grad.shape=\(3,\)"):
        opt.apply([G_SMALL, G_SMALL], vs)
    opt.apply([G_BIG, G_SMALL], vs)
    with pytest.raises(ValueError, match="built for 2 variables"):
        opt.apply([G_BIG], vs[:1])
    other = [vs[0], Variable(np.zeros(4), "c")]
    with pytest.raises(ValueError, match="variable 1 of shape"):
        opt.apply([G_BIG, np.zeros(4)], other)
    assert opt.iterations == 1


# ---------------------------------------------------------------------- state
STATEFUL = [
    lambda: optimizers.SGD(0.1),
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01, global_clipnorm=1.0),
]
STATE_IDS = ["sgd", "sgd_momentum", "adagrad", "rmsprop", "adam", "adamw"]


def _train(opt, vs, rng_seed, steps):
    rng = np.random.default_rng(rng_seed)
    for _ in range(steps):
        opt.apply([rng.standard_normal(v.shape) for v in vs], vs)


@pytest.mark.parametrize("before_build", [True, False], ids=["fresh", "built"])
@pytest.mark.parametrize("make", STATEFUL, ids=STATE_IDS)
def test_state_round_trip_resumes_exactly(ops_backend, make, before_build):
    vs = two_vars()
    opt = make()
    _train(opt, vs, 0, 3)
    saved_state = opt.get_state()
    saved_weights = [v.value.copy() for v in vs]
    config = json.loads(json.dumps(optimizers.serialize(opt)))
    _train(opt, vs, 1, 2)  # uninterrupted run

    vs2 = [Variable(w, v.name) for w, v in zip(saved_weights, vs)]
    opt2 = optimizers.deserialize(config)
    if not before_build:
        opt2.build(vs2)
    opt2.set_state(saved_state)
    assert opt2.iterations == 3
    _train(opt2, vs2, 1, 2)
    for a, b in zip(vs, vs2):
        np.testing.assert_array_equal(a.value, b.value)
    for key, value in opt.get_state().items():
        np.testing.assert_array_equal(opt2.get_state()[key], value)


def test_state_names_and_types():
    vs = two_vars()
    opt = optimizers.Adam(amsgrad=True)
    assert set(opt.get_state()) == {"iterations", "learning_rate"}
    opt.apply([G_BIG, G_SMALL], vs)
    state = opt.get_state()
    assert list(state) == ["iterations", "learning_rate", "0/m", "0/v", "0/v_hat",
                           "1/m", "1/v", "1/v_hat"]
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in state.values())
    assert state["iterations"].dtype == np.int64 and int(state["iterations"]) == 1
    assert len(opt.variables) == len(state)
    assert optimizers.SGD().variables[0] == 0
    assert set(optimizers.SGD(momentum=0.5).get_state()) == {"iterations", "learning_rate"}
    # the adagrad accumulator starts at initial_accumulator_value
    ada = optimizers.Adagrad(initial_accumulator_value=0.25)
    ada.build(vs)
    np.testing.assert_array_equal(ada.get_state()["1/accumulator"], [0.25] * 3)


def test_set_state_errors():
    vs = two_vars()
    opt = optimizers.Adam()
    opt.apply([G_BIG, G_SMALL], vs)
    good = opt.get_state()

    def bad(**changes):
        s = dict(good)
        for k, v in changes.items():
            if v is None:
                s.pop(k.replace("__", "/"))
            else:
                s[k.replace("__", "/")] = v
        return s

    with pytest.raises(ValueError, match="Missing: \\['0/v'\\]"):
        opt.set_state(bad(**{"0__v": None}))
    with pytest.raises(ValueError, match="unexpected: \\['2/m'\\]"):
        opt.set_state(bad(**{"2__m": np.zeros(2)}))
    with pytest.raises(ValueError, match=r"0/m must have shape \(2,\)"):
        opt.set_state(bad(**{"0__m": np.zeros(3)}))
    with pytest.raises(ValueError, match="dtype float64"):
        opt.set_state(bad(**{"0__m": np.zeros(2, np.float32)}))
    with pytest.raises(ValueError, match="numeric"):
        opt.set_state(bad(**{"0__m": np.array([None, None])}))
    with pytest.raises(ValueError, match="iterations"):
        opt.set_state(bad(iterations=np.array(-1)))
    with pytest.raises(ValueError, match="iterations"):
        opt.set_state(bad(iterations=None))
    with pytest.raises(ValueError, match="learning_rate"):
        opt.set_state(bad(learning_rate=np.array(0.0)))
    with pytest.raises(ValueError, match="dict"):
        opt.set_state([1, 2])
    # nothing changed after the failures
    for k, v in opt.get_state().items():
        np.testing.assert_array_equal(v, good[k])

    # state adopted before the build is checked against the variables when building
    fresh = optimizers.Adam()
    fresh.set_state(good)
    with pytest.raises(ValueError, match="holds 2 variables"):
        fresh.build(vs[:1])
    fresh = optimizers.Adam()
    fresh.set_state(good)
    with pytest.raises(ValueError, match="0/m"):
        fresh.apply([np.zeros(4), G_SMALL], [Variable(np.zeros(4), "x"), vs[1]])
    with pytest.raises(ValueError, match="Unexpected optimizer state name"):
        optimizers.Adam().set_state({**good, "m": np.zeros(2)})
    with pytest.raises(ValueError, match="Missing"):
        optimizers.SGD(momentum=0.9).set_state(good)
    with pytest.raises(ValueError, match="no slots"):
        optimizers.Adam().set_state({"iterations": np.array(3), "learning_rate": np.array(0.1)})


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize("make", STATEFUL + [lambda: optimizers.Adam(clipvalue=0.5)],
                         ids=STATE_IDS + ["adam_clipvalue"])
def test_config_round_trip(make):
    opt = make()
    text = json.dumps(optimizers.serialize(opt))
    back = optimizers.deserialize(json.loads(text))
    assert type(back) is type(opt)
    assert back.get_config() == opt.get_config()
    assert isinstance(opt.get_config()["learning_rate"], float)
    again = type(opt).from_config(opt.get_config())
    assert again.get_config() == opt.get_config()


# Configs as fastnn wrote them before the rules became records (saved models hold these).
SAVED_CONFIGS = [
    {"class_name": "SGD", "config": {
        "name": "SGD", "learning_rate": 0.1, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "momentum": 0.9, "nesterov": True}},
    {"class_name": "Adagrad", "config": {
        "name": "adagrad", "learning_rate": 0.05, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "initial_accumulator_value": 0.5,
        "epsilon": 0.001}},
    {"class_name": "RMSprop", "config": {
        "name": "rmsprop", "learning_rate": 0.01, "weight_decay": None, "clipnorm": 1.0,
        "global_clipnorm": None, "clipvalue": None, "rho": 0.8, "momentum": 0.5,
        "epsilon": 1e-07, "centered": True}},
    {"class_name": "Adam", "config": {
        "name": "adam", "learning_rate": 0.01, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": 0.5, "beta_1": 0.5, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": True}},
    {"class_name": "AdamW", "config": {
        "name": "adamw", "learning_rate": 0.002, "weight_decay": 0.1, "clipnorm": None,
        "global_clipnorm": 2.0, "clipvalue": None, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": False}},
]


@pytest.mark.parametrize("saved", SAVED_CONFIGS,
                         ids=[c["class_name"] for c in SAVED_CONFIGS])
def test_saved_configs_load_and_serialize_unchanged(saved):
    opt = optimizers.deserialize(json.loads(json.dumps(saved)))
    assert optimizers.serialize(opt) == saved
    assert list(opt.get_config()) == list(saved["config"])  # same keys, same order


@pytest.mark.parametrize("make", STATEFUL, ids=STATE_IDS)
def test_the_record_is_the_rule_config(make):
    """The rule's hyperparameters live once, in a frozen record of the optimizer's
    rule_class: the config lists its fields, the attributes read them."""
    opt = make()
    assert type(opt.rule) is type(opt).rule_class
    fields = dataclasses.asdict(opt.rule)
    config = opt.get_config()
    assert set(config) == {"name", "learning_rate", "weight_decay", "clipnorm",
                           "global_clipnorm", "clipvalue"} | set(fields)
    for name, value in fields.items():
        assert config[name] == value == getattr(opt, name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.rule.epsilon = 1.0


def test_records_check_their_fields_once():
    rule = rules.AdamRule(beta_1=np.float32(0.5), beta_2=0.9, epsilon=1, amsgrad=np.True_)
    assert (type(rule.beta_1), type(rule.epsilon), type(rule.amsgrad)) == (float, float,
                                                                           bool)
    with pytest.raises(ValueError, match=r"`rho`.*\[0, 1\).*Received: rho=1.0"):
        rules.RMSpropRule(rho=1.0, momentum=0.0, epsilon=1e-7, centered=False)
    with pytest.raises(TypeError, match="`nesterov`.*boolean"):
        rules.SGDRule(momentum=0.0, nesterov=1)
    with pytest.raises(TypeError):  # every field is required: no second set of defaults
        rules.AdagradRule(epsilon=1e-7)


def test_assigning_a_hyperparameter_checks_it_and_keeps_the_state_consistent():
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.momentum = 0.5
    assert opt.rule == rules.SGDRule(momentum=0.5, nesterov=False)
    with pytest.raises(ValueError, match="momentum"):
        opt.momentum = 1.5
    opt.apply([np.ones(2)], [np.ones(2)])
    opt.nesterov = True  # same state arrays: allowed after the build
    with pytest.raises(ValueError, match="built with the state"):
        opt.momentum = 0.0  # would drop the velocity the optimizer keeps
    assert opt.momentum == 0.5
    plain = optimizers.Adam()
    plain.amsgrad = True  # before the build, any change
    plain.apply([np.ones(2)], [np.ones(2)])
    assert "0/v_hat" in plain.get_state()


def test_get_resolves_identifiers():
    for name, cls in [("sgd", optimizers.SGD), ("Adam", optimizers.Adam),
                      ("RMSprop", optimizers.RMSprop), ("ADAGRAD", optimizers.Adagrad),
                      ("adamw", optimizers.AdamW), ("rmsprop", optimizers.RMSprop)]:
        assert type(optimizers.get(name)) is cls
    opt = optimizers.SGD(0.3)
    assert optimizers.get(opt) is opt
    from_dict = optimizers.get({"class_name": "RMSprop", "config": {"learning_rate": 0.2}})
    assert from_dict.learning_rate == 0.2
    assert type(optimizers.get({"class_name": "RMSProp", "config": {}})) is optimizers.RMSprop
    with pytest.raises(ValueError, match=r"Received: optimizer='adamx'") as err:
        optimizers.get("adamx")
    assert "adam, adamw" in str(err.value)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.get({"class_name": "Nadam", "config": {}})
    with pytest.raises(TypeError):
        optimizers.get(3)


# ---------------------------------------------------------------------- bad arguments
BAD = [
    (optimizers.SGD, {"learning_rate": 0.0}, "learning_rate"),
    (optimizers.SGD, {"learning_rate": -0.1}, "learning_rate"),
    (optimizers.Adam, {"learning_rate": float("nan")}, "learning_rate"),
    (optimizers.Adam, {"learning_rate": float("inf")}, "learning_rate"),
    (optimizers.Adam, {"learning_rate": "fast"}, "learning_rate"),
    (optimizers.SGD, {"lr": True}, "learning_rate"),
    (optimizers.SGD, {"momentum": -0.1}, "momentum"),
    (optimizers.SGD, {"momentum": 1.5}, "momentum"),
    (optimizers.RMSprop, {"momentum": 2.0}, "momentum"),
    (optimizers.RMSprop, {"rho": 1.0}, "rho"),
    (optimizers.RMSprop, {"rho": -0.5}, "rho"),
    (optimizers.Adam, {"beta_1": 1.0}, "beta_1"),
    (optimizers.Adam, {"beta_2": 1.2}, "beta_2"),
    (optimizers.AdamW, {"beta_1": -0.1}, "beta_1"),
    (optimizers.Adam, {"epsilon": 0.0}, "epsilon"),
    (optimizers.Adagrad, {"epsilon": -1e-7}, "epsilon"),
    (optimizers.RMSprop, {"epsilon": 0}, "epsilon"),
    (optimizers.Adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (optimizers.SGD, {"clipnorm": 0.0}, "clipnorm"),
    (optimizers.SGD, {"clipvalue": -1.0}, "clipvalue"),
    (optimizers.SGD, {"global_clipnorm": 0.0}, "global_clipnorm"),
    (optimizers.SGD, {"weight_decay": -0.01}, "weight_decay"),
    (optimizers.AdamW, {"weight_decay": None}, "weight_decay"),
    (optimizers.SGD, {"clipnorm": 1.0, "global_clipnorm": 1.0}, "global_clipnorm"),
    (optimizers.SGD, {"clipnorm": 1.0, "clipvalue": 1.0}, "clipvalue"),
    (optimizers.SGD, {"nesterov": "yes"}, "nesterov"),
    (optimizers.Adam, {"amsgrad": 1}, "amsgrad"),
    (optimizers.RMSprop, {"centered": None}, "centered"),
]


@pytest.mark.parametrize("cls, kwargs, arg", BAD, ids=[f"{c.__name__}-{a}" for c, _, a in BAD])
def test_bad_arguments_name_the_argument(cls, kwargs, arg):
    with pytest.raises(ValueError, match=arg) as err:
        cls(**kwargs)
    assert "Received" in str(err.value)


# ---------------------------------------------------------------------- PyTorch oracle
SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _torch_compare(make_ours, make_torch, steps=5, seed=0):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]

    ours = [Variable(w.copy(), f"v{i}") for i, w in enumerate(init)]
    opt = make_ours()
    for gs in grads:
        opt.apply(gs, ours)

    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in init]
    topt = make_torch(params)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
    for v, p in zip(ours, params):
        np.testing.assert_allclose(v.value, p.detach().numpy(), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_torch_sgd(ops_backend, momentum, nesterov):
    torch = pytest.importorskip("torch")
    _torch_compare(
        lambda: optimizers.SGD(0.05, momentum=momentum, nesterov=nesterov),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum, nesterov=nesterov),
    )


def test_torch_adagrad(ops_backend):
    # Keras adds epsilon inside the square root, torch outside: with a tiny epsilon the
    # two agree.
    torch = pytest.importorskip("torch")
    _torch_compare(
        lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=1e-30),
        lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1,
                                       eps=1e-30),
    )


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.5, False), (0.5, True)])
def test_torch_rmsprop(ops_backend, momentum, centered):
    torch = pytest.importorskip("torch")
    _torch_compare(
        lambda: optimizers.RMSprop(0.01, rho=0.9, momentum=momentum, centered=centered,
                                   epsilon=1e-30),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=momentum,
                                       centered=centered, eps=1e-30),
    )


@pytest.mark.parametrize("amsgrad", [False, True])
def test_torch_adam(ops_backend, amsgrad):
    torch = pytest.importorskip("torch")
    _torch_compare(
        lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-12,
                                amsgrad=amsgrad),
        lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-12,
                                    amsgrad=amsgrad),
    )


def test_torch_adamw(ops_backend):
    # torch's AdamW multiplies by (1 - lr * weight_decay) first, as Keras does.
    torch = pytest.importorskip("torch")
    _torch_compare(
        lambda: optimizers.AdamW(0.01, weight_decay=0.1, epsilon=1e-12),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, eps=1e-12),
    )


def test_no_warnings_in_a_normal_step(ops_backend):
    vs = two_vars()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers.Adam().apply([G_BIG, G_SMALL], vs)


def test_set_state_with_variables_builds_first(ops_backend):
    vs = two_vars()
    opt = optimizers.RMSprop(0.01, momentum=0.5)
    _train(opt, vs, 0, 2)
    state = opt.get_state()
    fresh = optimizers.RMSprop(0.01, momentum=0.5)
    fresh.set_state(state, vs)
    assert fresh.built and fresh.iterations == 2
    np.testing.assert_array_equal(fresh.get_state()["1/momentum"], state["1/momentum"])
    with pytest.raises(ValueError, match="built for 2 variables"):
        fresh.set_state(state, vs[:1])
