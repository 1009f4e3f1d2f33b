"""The metrics of ``compile(metrics=..., weighted_metrics=...)``, bound to a model's outputs.

Two lists, with Keras 3's meanings:

* ``metrics`` are computed from targets and predictions only: sample weights and class
  weights do not touch them;
* ``weighted_metrics`` are weighted by ``sample_weight`` (times the ``class_weight`` of
  each sample's class when one is given).

Each metric is reported under one log key, named as Keras 3's ``CompileMetrics.result``
names it: the metric's name, prefixed by the output's name for a model with several
outputs; a repeated key gets ``_1``, ``_2``, ...; a weighted metric whose key is taken by
an unweighted one (the same metric in both lists) is called ``weighted_<name>``.

Metric state belongs to one call, not to the model.  ``CompiledMetrics`` holds the
resolved metrics as templates and never updates them; every ``fit`` epoch, ``evaluate``
and ``*_on_batch`` call takes a ``MetricRun`` of its own copies.  So two threads
evaluating one model, or an ``evaluate`` run from a callback in the middle of ``fit``,
never see each other's counts.
"""

import copy
import functools
import types

import numpy as np

from .. import metrics as _metrics


class CompiledMetrics:
    """The resolved metrics of one compiled model, with their log keys.

    Args:
        unweighted: one list of ``Metric`` objects per output (``compile(metrics=...)``).
        weighted: the same for ``compile(weighted_metrics=...)``.
        output_names: the model's output names; a prefix of the keys when there are
            several.
    """

    def __init__(self, unweighted, weighted, output_names):
        several = len(output_names) > 1
        prefixes = [f"{name}_" if several else "" for name in output_names]
        # (key, output index, weighted, template), in Keras' log order: every output's
        # unweighted metrics, then every output's weighted ones
        self._entries = []
        taken = {}  # key -> how many metrics asked for it
        for k, metric_list in enumerate(unweighted):
            for metric in metric_list:
                key = _unique_key(prefixes[k] + metric.name, taken)
                self._entries.append((key, k, False, metric))
        for k, metric_list in enumerate(weighted):
            for metric in metric_list:
                key = prefixes[k] + metric.name
                if key in taken:
                    key = prefixes[k] + "weighted_" + metric.name
                key = _unique_key(key, taken)
                self._entries.append((key, k, True, metric))
        self._outputs_read = {k for _, k, _, _ in self._entries}

    @property
    def templates(self):
        """The resolved metric objects, in log order (never updated by a call)."""
        return [metric for _, _, _, metric in self._entries]

    def reads_output(self, k):
        """Whether any metric reads output ``k``'s predictions."""
        return k in self._outputs_read

    def new_run(self):
        """A ``MetricRun`` with fresh copies of every metric, for one call."""
        return MetricRun([(key, k, weighted, _fresh_copy(metric))
                          for key, k, weighted, metric in self._entries])


class MetricRun:
    """The metric objects one call updates, and its logs.

    Args:
        entries: ``(key, output index, weighted, metric)`` tuples.
    """

    def __init__(self, entries):
        self._entries = entries

    @property
    def metrics(self):
        """This call's metric objects, in log order."""
        return [metric for _, _, _, metric in self._entries]

    def with_metrics(self, metrics):
        """A ``MetricRun`` with this run's keys over other metric objects, one per
        entry in log order (data-parallel training logs copies holding the state
        summed over the ranks)."""
        return MetricRun([(key, k, weighted, metric) for (key, k, weighted, _), metric
                          in zip(self._entries, metrics)])

    def update(self, ys, preds, sample_weight):
        """Add one batch: ``ys`` and ``preds`` per output, ``sample_weight`` (n,) or
        None, which only the weighted metrics see."""
        for _, k, weighted, metric in self._entries:
            metric.update_state(ys[k], preds[k],
                                sample_weight=sample_weight if weighted else None)

    def logs(self):
        """``{key: result}`` for every metric, in log order."""
        return {key: _log_value(metric.result()) for key, _, _, metric in self._entries}


def build(metrics, weighted_metrics, per_output, losses, output_shapes, output_names):
    """``CompiledMetrics`` from ``compile``'s two metric arguments.

    Args:
        metrics: ``compile(metrics=...)``: None, a list (for every output, or one list
            per output), or a dict by output name.
        weighted_metrics: ``compile(weighted_metrics=...)``, in the same forms.
        per_output: the model's ``_per_output(value, what)``, which spreads a list or
            dict over the outputs.
        losses: the compiled loss of each output (for 'accuracy').
        output_shapes: each output's shape.
        output_names: the outputs' names.
    """
    def resolve(spec, what):
        specs = _specs_per_output(spec, what, per_output, len(output_names))
        return [[_metrics.resolve(entry, loss, output_shape=shape) for entry in entries]
                for entries, loss, shape in zip(specs, losses, output_shapes)]

    return CompiledMetrics(resolve(metrics, "metrics"),
                           resolve(weighted_metrics, "weighted_metrics"), output_names)


def _specs_per_output(spec, what, per_output, n_outputs):
    """One list of metric identifiers per output."""
    if spec is None:
        return [[] for _ in range(n_outputs)]
    if isinstance(spec, dict):
        return [s if isinstance(s, (list, tuple)) else [s] for s in per_output(spec, what)]
    if isinstance(spec, (list, tuple)):
        if n_outputs > 1 and spec and all(isinstance(s, (list, tuple)) for s in spec):
            return [list(s) for s in per_output(list(spec), what)]
        return [list(spec) for _ in range(n_outputs)]
    raise TypeError(
        f"Expected {what} to be a list of metric names or objects. Received: {spec!r}"
    )


def _log_value(result):
    """A result as a float, or a list of floats for a metric with one result per
    threshold (``Precision(thresholds=[0.3, 0.7])``)."""
    if np.ndim(result) == 0:
        return float(result)
    return [float(v) for v in np.ravel(result)]


def _unique_key(key, taken):
    """``key``, or ``key_1``, ``key_2``, ... when it was taken before (Keras' rule)."""
    if key not in taken:
        taken[key] = 1
        return key
    index = taken[key]
    taken[key] += 1
    unique = f"{key}_{index}"
    taken.setdefault(unique, 1)
    return unique


# What a metric holds as code, not state: shared by the copies rather than deep-copied
# (a deep copy of a bound method copies the object it is bound to).  Other callables,
# such as a Metric held inside a metric, are state and get copied.
_CODE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
               functools.partial, type)


def _fresh_copy(template):
    """A copy of ``template`` with its own, reset state.

    The state is deep-copied attribute by attribute, so a metric holding lists or
    arrays that ``reset_state`` clears in place still gets its own.  Functions (the
    one a ``MeanMetricWrapper`` wraps), methods and classes are shared.  An
    attribute that cannot be copied (a lock, an open file) is shared as well.
    """
    fresh = copy.copy(template)
    state = getattr(template, "__dict__", None)
    if state is not None:
        fresh.__dict__ = {name: value if isinstance(value, _CODE_TYPES)
                          else _copy_or_share(value) for name, value in state.items()}
    fresh.reset_state()
    return fresh


def _copy_or_share(value):
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - any object that refuses to be copied
        return value
