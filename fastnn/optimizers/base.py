"""The optimizer base: everything a training step needs except the update rule itself.

An optimizer holds its rule's hyperparameters as one frozen record (``rule``, from
``rules.py``) and the base arguments (learning rate, weight decay, clipping).
``Optimizer.apply`` owns the step: it builds per-variable state on first use, checks the
gradients, computes the clipping scales, and hands every (param, grad, state) triple to
one ``ops.multi_update(rule, ...)`` call.  The ops do the clipping, the scaling and the
decoupled weight decay in the same fused pass as the rule, so nothing here touches the
arrays element by element.

State is keyed by the position of a variable in the list it was built with (not by the
variable's identity), so a model rebuilt from a saved file can take its optimizer state
back with ``set_state`` before the first step.
"""

import dataclasses
import math
import re
import warnings
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..utils import naming
from ..utils.validation import check_real
from . import rules

# Keras 3 arguments fastnn does not implement: accepted only at their default value, so
# that configs written by Keras (which always list them) still load.
_KERAS_ONLY_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _array_of(variable):
    """The ndarray an optimizer updates: a Variable's ``.value`` or a bare ndarray."""
    value = getattr(variable, "value", variable)
    if not isinstance(value, np.ndarray):
        raise TypeError(
            "Expected each variable to be a fastnn Variable or a NumPy array. "
            f"Received: variable={variable!r}"
        )
    return value


class Optimizer:
    """Base class of every optimizer: owns the step, the state and the config.

    A subclass names its record type in ``rule_class`` and builds the record from its
    own arguments; the record's fields then read (and assign, checked again) as the
    optimizer's attributes (``adam.beta_1``), and its slots are the state kept per
    variable.

    Args:
        rule: The rule's hyperparameters, a record from ``fastnn.optimizers.rules``.
        learning_rate: Positive float, the step size.  ``lr`` is accepted as the older
            spelling (not both at once).
        weight_decay: Optional float >= 0.  If set, every variable (except those named
            in ``exclude_from_weight_decay``) is decayed by ``learning_rate *
            weight_decay`` of itself before each update, decoupled from the gradient.
        clipnorm: Optional float > 0.  Each gradient is rescaled so that its own L2 norm
            is at most this value.
        clipvalue: Optional float > 0.  Each gradient element is clipped to
            ``[-clipvalue, clipvalue]``.
        global_clipnorm: Optional float > 0.  All gradients are rescaled together so
            that their joint L2 norm is at most this value.  At most one of
            ``clipnorm``, ``clipvalue`` and ``global_clipnorm`` may be set, as in Keras.
        name: Optional string; defaults to the class's snake-case name.
        **kwargs: Only ``lr`` and, for Keras configs, Keras 3's ``use_ema`` /
            ``ema_momentum`` / ``ema_overwrite_frequency`` / ``loss_scale_factor`` /
            ``gradient_accumulation_steps`` at their default values.  ``decay`` (Keras
            2's learning-rate decay) is ignored with a warning, as Keras 3 does.
    """

    #: The record type of the subclass's rule (``rules.AdamRule``, ...).
    rule_class = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "rule_class" in cls.__dict__:
            for field in dataclasses.fields(cls.rule_class):
                setattr(cls, field.name, _hyperparameter(field.name))

    def __init__(self, rule, learning_rate=None, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        if not isinstance(rule, self.rule_class or rules.Rule):
            raise TypeError(
                f"{type(self).__name__} takes a {(self.rule_class or rules.Rule).__name__} "
                f"record. Received: rule={rule!r}"
            )
        self.rule = rule
        learning_rate = self._resolve_kwargs(learning_rate, kwargs)
        self.learning_rate = learning_rate
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0,
                                       allow_none=True)
        self.clipnorm = check_real("clipnorm", clipnorm, low=0.0, low_open=True,
                                   allow_none=True)
        self.clipvalue = check_real("clipvalue", clipvalue, low=0.0, low_open=True,
                                    allow_none=True)
        self.global_clipnorm = check_real("global_clipnorm", global_clipnorm, low=0.0,
                                          low_open=True, allow_none=True)
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        if name is None:
            name = naming.unique(
                naming.snake_case(type(self).__name__)
            )
        if not isinstance(name, str):
            raise ValueError(f"Argument `name` must be a string. Received: name={name!r}")
        self.name = name
        self.iterations = 0
        self.built = False
        self._shapes = None        # [(shape, dtype)] per variable once built
        self._state = None         # [{slot name: ndarray}] per variable once built
        self._pending_state = None  # slots from set_state() before build
        self._decay_flags = None   # [bool] per variable once built
        self._exclude_ids = set()
        self._exclude_pattern = None
        # The params and gradients the last step checked (see apply), and the state
        # arrays as one list per slot of rule.SLOTS, None where unused (see build).
        self._checked = ((), ())
        self._slot_lists = None

    def _resolve_kwargs(self, learning_rate, kwargs):
        if "lr" in kwargs:
            lr = kwargs.pop("lr")
            if learning_rate is not None and not isinstance(learning_rate, DefaultValue):
                raise TypeError(
                    f"{type(self).__name__} got both `learning_rate` and its older "
                    f"spelling `lr`; pass only one. Received: learning_rate="
                    f"{learning_rate!r}, lr={lr!r}"
                )
            learning_rate = lr
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.",
                stacklevel=4,
            )
        for key, default in _KERAS_ONLY_DEFAULTS.items():
            if key in kwargs:
                value = kwargs.pop(key)
                if value != default:
                    raise ValueError(
                        f"fastnn does not implement `{key}`; it can only be "
                        f"{default!r}. Received: {key}={value!r}"
                    )
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) "
                f"{', '.join(sorted(kwargs))}. Received: {kwargs!r}"
            )
        return learning_rate

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The step size as a float (assignable, e.g. by ReduceLROnPlateau)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        self._learning_rate = check_real("learning_rate", value, low=0.0, low_open=True)

    # Keras 2's spelling, kept for old callbacks that read or set ``optimizer.lr``.
    lr = learning_rate

    # ------------------------------------------------------------------ the rule
    def _replace_rule(self, **changes):
        """Swap in the rule with ``changes`` (checked by the record); once built, only
        changes that keep the same state arrays are allowed."""
        rule = dataclasses.replace(self.rule, **changes)
        if self.built and rule.slots() != self.rule.slots():
            raise ValueError(
                f"{type(self).__name__} was built with the state "
                f"{[s for s, _ in self.rule.slots()]}; {changes} would need "
                f"{[s for s, _ in rule.slots()]}. Create a new optimizer instead."
            )
        self.rule = rule

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude variables from weight decay (call before the first step).

        Args:
            var_list: Variables to exclude.
            var_names: Strings; a variable whose name contains any of them (as a
                regular expression search) is excluded, e.g. ``["bias"]``.
        """
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be called before the optimizer "
                "is built (before its first step)."
            )
        self._exclude_ids = {id(v) for v in (var_list or ())}
        if isinstance(var_names, str):  # one name, not a sequence of characters
            var_names = [var_names]
        names = list(var_names or ())
        for n in names:
            if not isinstance(n, str):
                raise ValueError(
                    "Argument `var_names` must be a list of strings. "
                    f"Received: var_names={var_names!r}"
                )
        self._exclude_pattern = re.compile("|".join(names)) if names else None

    def _use_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        name = getattr(variable, "name", None)
        if self._exclude_pattern is not None and isinstance(name, str):
            return self._exclude_pattern.search(name) is None
        return True

    # ------------------------------------------------------------------ building
    def build(self, variables):
        """Create the per-variable state for ``variables`` (done by the first ``apply``).

        State arrays are filled with each slot's initial value, in the variable's shape
        and dtype; state handed to ``set_state`` before the build is used instead.
        """
        variables = list(variables)
        arrays = [_array_of(v) for v in variables]
        for i, a in enumerate(arrays):
            if not (a.flags.c_contiguous and a.flags.writeable):
                raise ValueError(
                    f"Variable {i} must be a writeable C-contiguous array so that it can "
                    f"be updated in place. Received: variable={variables[i]!r}"
                )
            if a.dtype.kind != "f":
                raise ValueError(
                    f"Variable {i} must be floating point. Received: dtype={a.dtype}"
                )
        shapes = [(a.shape, a.dtype) for a in arrays]
        if self.built:
            self._check_same_variables(shapes)
            return
        pending = self._pending_state
        if pending is not None:
            if len(pending) != len(arrays):
                raise ValueError(
                    f"The state given to set_state() holds {len(pending)} variables but "
                    f"the optimizer is being built on {len(arrays)}."
                )
            for i, (slots, (shape, dtype)) in enumerate(zip(pending, shapes)):
                for sname, s in slots.items():
                    if s.shape != shape or s.dtype != dtype:
                        raise ValueError(
                            f"State {i}/{sname} from set_state() has shape {s.shape} "
                            f"and dtype {s.dtype}, but variable {i} has shape {shape} "
                            f"and dtype {dtype}."
                        )
            state = pending
        else:
            state = [
                {sname: np.full(shape, fill, dtype=dtype)
                 for sname, fill in self.rule.slots()}
                for shape, dtype in shapes
            ]
        self._shapes = shapes
        self._state = state
        self._decay_flags = [self._use_weight_decay(v) for v in variables]
        used = {sname for sname, _ in self.rule.slots()}
        self._slot_lists = tuple(
            [s[sname] for s in state] if sname in used else None
            for sname in self.rule.SLOTS
        )
        self._pending_state = None
        self.built = True

    def _check_same_variables(self, shapes):
        if len(shapes) != len(self._shapes):
            raise ValueError(
                f"This optimizer was built for {len(self._shapes)} variables and cannot "
                f"update a different list; create a new optimizer. Received: "
                f"{len(shapes)} variables."
            )
        for i, (got, want) in enumerate(zip(shapes, self._shapes)):
            if got != want:
                raise ValueError(
                    f"This optimizer was built with variable {i} of shape {want[0]} and "
                    f"dtype {want[1]}; create a new optimizer to train other variables. "
                    f"Received: shape={got[0]}, dtype={got[1]}"
                )

    # ------------------------------------------------------------------ the step
    def apply_gradients(self, grads_and_vars):
        """Keras' spelling of ``apply``: a list of ``(gradient, variable)`` pairs.

        Returns:
            The number of steps taken so far (``iterations``).
        """
        pairs = list(grads_and_vars)
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        self.apply(grads, variables)
        return self.iterations

    def apply(self, grads, variables):
        """One training step: update each variable in place from its gradient.

        Args:
            grads: Gradients, one per variable, each of the variable's shape (``None``
                leaves that variable untouched this step).
            variables: The variables (``fastnn.variables.Variable`` or NumPy arrays),
                always the same list, in the same order, as on the first step.
        """
        grads = list(grads)
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(
                "Expected one gradient per variable. Received: "
                f"{len(grads)} gradients for {len(variables)} variables."
            )
        if not variables:
            return
        if not self.built:
            self.build(variables)
        params = [getattr(v, "value", v) for v in variables]
        # A training loop passes the same arrays every step (the variables' values and
        # the layers' reused gradient buffers): arrays checked by an earlier step are
        # not checked again, so the step costs no per-variable Python work.
        last_params, last_grads = self._checked
        if _same_arrays(params, last_params) and _same_arrays(grads, last_grads):
            indices, ready = range(len(params)), grads
        else:
            indices, params, ready = self._check_step(grads, variables)

        ops = backend.current()
        wd = self.weight_decay or 0.0
        flags = self._decay_flags
        step = self.iterations + 1
        self._update_all(
            ops, indices, params, ready, self._learning_rate, step,
            weight_decays=[wd if flags[i] else 0.0 for i in indices],
            grad_scales=self._clip_scales(ops, ready),
            clipvalue=self.clipvalue or 0.0,
        )
        self.iterations = step

    def _check_step(self, grads, variables):
        """``(indices, params, grads)`` for the variables that have a gradient, each
        gradient C-contiguous in its variable's dtype; raises on a wrong shape."""
        params = [_array_of(v) for v in variables]
        shapes = [(p.shape, p.dtype) for p in params]
        if shapes != self._shapes:
            self._check_same_variables(shapes)
        indices, ready = [], []
        for i, (g, p) in enumerate(zip(grads, params)):
            if g is None:
                continue
            g = np.ascontiguousarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(
                    f"Gradient {i} must have the shape of its variable {p.shape}. "
                    f"Received: grad.shape={g.shape}"
                )
            indices.append(i)
            ready.append(g)
        if not ready:
            raise ValueError("No gradients provided for any variable.")
        if len(ready) < len(params):
            skipped = sorted(set(range(len(params))) - set(indices))
            warnings.warn(
                f"Gradients do not exist for variables {skipped} (by position); they "
                "were not updated.",
                stacklevel=3,
            )
            params = [params[i] for i in indices]
        elif _same_arrays(ready, grads):  # all present and used as given: remember them
            self._checked = (params, grads)
        return indices, params, ready

    def _update_all(self, ops, indices, params, grads, lr, step, weight_decays,
                    grad_scales, clipvalue):
        """Update ``params`` (the variables at positions ``indices``) and their slots with
        one ``ops.multi_update`` call (one native call per step, whatever the number of
        variables)."""
        if len(indices) == len(self._state):
            slots = self._slot_lists
        else:
            slots = tuple(None if arrays is None else [arrays[i] for i in indices]
                          for arrays in self._slot_lists)
        ops.multi_update(self.rule, params, grads, slots, weight_decays, grad_scales,
                         lr=lr, step=step, clipvalue=clipvalue)

    def _clip_scales(self, ops, grads):
        """Per-gradient multipliers for clipnorm / global_clipnorm (1.0 when off)."""
        if self.clipnorm is not None:
            c = self.clipnorm
            return [_norm_scale(math.sqrt(ops.sum_squares(g)), c) for g in grads]
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            norm = math.sqrt(sum(ops.sum_squares(g) for g in grads))
            # A non-finite global norm poisons every update, as in Keras, rather than
            # silently zeroing the step.
            scale = _norm_scale(norm, c) if math.isfinite(norm) else math.nan
            return [scale] * len(grads)
        return [1.0] * len(grads)

    # ------------------------------------------------------------------ state
    def _state_keys(self, n):
        return [f"{i}/{sname}" for i in range(n) for sname, _ in self.rule.slots()]

    def get_state(self):
        """The optimizer's state as ``{name: ndarray}``, for saving and resuming.

        Keys are ``"iterations"``, ``"learning_rate"`` and ``"<i>/<slot>"`` for the
        slots of the ``i``-th variable (e.g. ``"0/m"``).  Arrays are copies.
        """
        state = {
            "iterations": np.array(self.iterations, dtype=np.int64),
            "learning_rate": np.array(self._learning_rate, dtype=np.float64),
        }
        per_var = self._state if self.built else (self._pending_state or [])
        for i, slots in enumerate(per_var):
            for sname, _ in self.rule.slots():
                state[f"{i}/{sname}"] = slots[sname].copy()
        return state

    def set_state(self, state, variables=None):
        """Restore what ``get_state`` returned; the state changes only if all of it checks.

        Args:
            state: ``{name: array}`` as returned by ``get_state``.
            variables: Optional; the variables the state belongs to.  An optimizer not
                yet built is built on them first (an already built one checks them).
                Without them, state given before the first step is kept and checked
                against the variables when the optimizer is built.

        Raises:
            ValueError: a name is missing or unexpected, or an array has the wrong
                shape, dtype or value.
        """
        if variables is not None:
            self.build(variables)
        if not isinstance(state, Mapping):
            raise ValueError(
                "Argument `state` must be a dict of name -> array. "
                f"Received: state={type(state).__name__}"
            )
        state = dict(state)
        arrays = {}
        for key, value in state.items():
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                raise ValueError(
                    f"Optimizer state {key!r} must be a numeric array. "
                    f"Received: dtype={a.dtype}"
                )
            arrays[key] = a
        for key in ("iterations", "learning_rate"):
            if key not in arrays:
                raise ValueError(f"Optimizer state is missing {key!r}.")
            if arrays[key].shape != ():
                raise ValueError(
                    f"Optimizer state {key!r} must be a scalar. "
                    f"Received: shape={arrays[key].shape}"
                )
        it = arrays["iterations"]
        if it.dtype.kind not in "iu" or int(it) < 0:
            raise ValueError(
                "Optimizer state 'iterations' must be a non-negative integer. "
                f"Received: iterations={it!r}"
            )
        lr = check_real("learning_rate", arrays["learning_rate"][()], low=0.0,
                        low_open=True)

        slot_keys = [k for k in arrays if k not in ("iterations", "learning_rate")]
        if self.built:
            n = len(self._shapes)
        else:
            indices = set()
            for k in slot_keys:
                head = k.split("/", 1)[0]
                if not head.isdigit():
                    raise ValueError(f"Unexpected optimizer state name {k!r}.")
                indices.add(int(head))
            n = max(indices) + 1 if indices else 0
            if n == 0 and self.rule.slots() and int(it) > 0:
                raise ValueError(
                    f"Optimizer state after {int(it)} steps must hold the "
                    f"{type(self).__name__} slots {[s for s, _ in self.rule.slots()]} of "
                    "every variable. Received: no slots."
                )
        expected = self._state_keys(n)
        unexpected = sorted(set(slot_keys) - set(expected))
        missing = [k for k in expected if k not in arrays]
        if unexpected or missing:
            raise ValueError(
                f"Optimizer state does not match {type(self).__name__}"
                + (f" built for {n} variables" if self.built else "")
                + f": expected slots {expected}. Missing: {missing}; unexpected: "
                f"{unexpected}."
            )
        if self.built:
            for i, (shape, dtype) in enumerate(self._shapes):
                for sname, _ in self.rule.slots():
                    a = arrays[f"{i}/{sname}"]
                    if a.shape != shape or a.dtype != dtype:
                        raise ValueError(
                            f"Optimizer state {i}/{sname} must have shape {shape} and "
                            f"dtype {dtype}. Received: shape={a.shape}, dtype={a.dtype}"
                        )
            for i, slots in enumerate(self._state):
                for sname, buf in slots.items():
                    np.copyto(buf, arrays[f"{i}/{sname}"])
        else:
            pending = [
                {sname: np.array(arrays[f"{i}/{sname}"], order="C")
                 for sname, _ in self.rule.slots()}
                for i in range(n)
            ]
            for i, slots in enumerate(pending):
                for sname, a in slots.items():
                    if a.dtype.kind != "f":
                        raise ValueError(
                            f"Optimizer state {i}/{sname} must be floating point. "
                            f"Received: dtype={a.dtype}"
                        )
            self._pending_state = pending if n else None
        self.iterations = int(it)
        self._learning_rate = lr

    @property
    def variables(self):
        """The state arrays, in ``get_state`` order (Keras-like).

        The slot arrays are the live buffers; ``iterations`` and ``learning_rate`` are
        snapshots as 0-d arrays.
        """
        out = [np.array(self.iterations, dtype=np.int64),
               np.array(self._learning_rate, dtype=np.float64)]
        if self.built:
            out += [slots[s] for slots in self._state for s, _ in self.rule.slots()]
        return out

    # ------------------------------------------------------------------ config
    def get_config(self):
        """The constructor arguments, JSON-serialisable (the state is not included)."""
        config = {
            "name": self.name,
            "learning_rate": float(self._learning_rate),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }
        config.update(dataclasses.asdict(self.rule))
        return config

    @classmethod
    def from_config(cls, config):
        """Build an optimizer from ``get_config``'s dict."""
        return cls(**config)

    def __repr__(self):
        lr = self._learning_rate
        return f"<{type(self).__name__} name={self.name!r} learning_rate={lr:g}>"


def _same_arrays(a, b):
    """Whether the lists ``a`` and ``b`` hold the very same objects."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _norm_scale(norm, clip):
    """``clip / max(norm, clip)``: 1 for a gradient already inside the ball."""
    return clip / norm if norm > clip else 1.0


def _hyperparameter(name):
    """The property through which an optimizer shows its rule's field ``name``."""

    def get(self):
        return getattr(self.rule, name)

    def set(self, value):
        self._replace_rule(**{name: value})

    return property(get, set, doc=f"The rule's ``{name}`` (assigning checks it again).")


class DefaultValue(float):
    """A float default that can be told apart from the same number passed explicitly.

    Subclasses write ``learning_rate=DefaultValue(0.01)`` so that their signature still
    reads 0.01 while ``SGD(learning_rate=0.1, lr=0.2)`` can be refused.
    """

    __slots__ = ()
