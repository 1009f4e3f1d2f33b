"""The step plan: a training step recorded once per batch size and replayed.

At batch 32 on a small net the kernels of a training step cost less than the Python
around them: the graph walk, ``Layer.forward``/``backward`` and their ``buffer()``
look-ups, ``trainable_weights``, the optimizer's checks.  None of that changes from one
step to the next at a given batch size, so after the first step at a batch size the
trainer records what that step did (``build``): for each layer, the native entry it
called and the arrays it passed (the layers' own reused output and gradient buffers),
the loss entry and the optimizer entry with their argument lists.  Later steps call
``StepPlan.run``, which makes the same native calls on the same arrays, in the same
order, with no per-layer dispatch and no allocation beyond the loss's float64 sum.
Since the calls and their operands are the ones the ordinary path makes, the results
are bit-identical to it (tests/api/test_step_plan.py checks that).

A plan covers what it can replay exactly: a chain of ``Dense`` layers whose
activations run in the GEMM epilogue, one output and one loss, no regularizers, no
BatchNormalization, an optimizer whose step is the base class's (clipping included),
the native backend.  Anything else gets no plan (``build`` returns None) and the step
runs as before.  ``StepPlan.valid`` is checked before each replay and refuses (the
trainer then runs the ordinary step, which records a new plan) when the backend,
optimizer, its rule, state or weight decay, a layer's ``trainable`` flag, a variable's
array, trainability or regularizer have changed; recompiling drops every plan.  The
learning rate and the thread count are read at each step, as the ordinary path does.

A data-parallel step (a ``shard``, ``fastnn.distributed``) is replayed too, keyed by
the share's position in its global batch: its backward writes the gradients straight
into this rank's part of the step buffer (the shared-memory slot with a
``NodeReducer``: no packing copy), the buffer is reduced over the ranks as the
ordinary path does (``DataParallel.finish_step``), and the optimizer reads the summed
gradients from the reduced buffer.  The plan holds that buffer's views and is refused
when the ``DataParallel`` or its buffer changes.

If a native entry refuses an operand during a replay (it cannot for the recorded
arrays; a new input array might), that one call goes through the backend's method,
which is what the ordinary step would have called.
"""

import numpy as np

from .. import backend
from .. import threads as _threads
from ..layers.core import Dense
from ..layers.core import InputLayer
from ..backend import activations as _act
from ..backend import native_ops as _native_ops
from ..losses import _BuiltinLoss
from ..optimizers.base import Optimizer

_OK = _native_ops._OK


def build(model, n, caches, variables, shard=None, metric_run=None):
    """A ``StepPlan`` for the step just run on a batch of ``n`` rows, or None when the
    step is one a plan does not replay (see the module docstring).

    Args:
        model: the model; its ordinary step at batch ``n`` has just run.
        n: the batch size.
        caches: that step's per-node caches (the layers' reused buffers).
        variables: the trainable variables the step updated, in optimizer order.
        shard: the step's ``Shard`` in a data-parallel step, else None.
        metric_run: the step's metric run (it sizes a data-parallel step buffer).
    """
    ops = backend.current()
    if (type(ops) is not _native_ops.NativeOps or _native_ops._gemm is None
            or _native_ops._ew is None or _native_ops._opt is None):
        return None
    graph = model._graph
    if len(graph.inputs) != 1 or len(graph.outputs) != 1 or len(model._losses) != 1:
        return None
    steps = graph._steps
    if not steps:
        return None
    opt = model.optimizer
    dp = layout = None
    if shard is not None:
        dp = model.__dict__.get("_data_parallel")
        if dp is None or not n:
            return None
        layout = dp.step_layout(variables, metric_run)
        if layout is None or layout.stats:
            return None  # BatchNormalization statistics: the ordinary path packs them
    if (not opt.built or type(opt).apply is not Optimizer.apply
            or type(opt)._update_all is not Optimizer._update_all
            or len(opt._state) != len(variables)):
        return None
    prev = graph._input_ids[0]
    seen = set()
    layers = []
    for node_id, layer, inbound, multi, need_dx in steps:
        if (type(layer) is not Dense or multi or inbound != (prev,) or id(layer) in seen
                or isinstance(layer, InputLayer)):
            return None
        seen.add(id(layer))
        layers.append((node_id, layer, need_dx))
        prev = node_id
    if prev != graph._output_ids[0]:
        return None
    fused = model._fused.get(prev)
    loss = model._losses[0]
    fused_entry = None
    if fused is not None:
        # the loss's own fused route, called directly (its forward_backward is the
        # built-in one, so the entry and its arguments are known)
        if type(loss).forward_backward is not _BuiltinLoss.forward_backward:
            return None
        ew = _native_ops._ew
        if fused == "sigmoid":
            fused_entry = ew.sigmoid_bce
        elif fused == "softmax":
            fused_entry = ew.softmax_xent_sparse if loss._sparse else ew.softmax_xent_dense
        else:
            return None
    forward, backward = [], []
    grad_of = {}
    for k, (node_id, layer, need_dx) in enumerate(layers):
        cache = caches.get(node_id)
        if cache is None or "dw" not in cache:
            return None
        if k and cache.get("x") is not forward[-1][2]:
            return None  # not fed by the previous layer's buffer: not a plain chain
        act = cache["act"]
        code = _native_ops._GEMM_CODES.get(act)
        if code is None or act == "softmax" or act in _act.NEEDS_INPUT:
            return None
        if any(w.regularizer is not None for w in layer.weights):
            return None
        if k == len(layers) - 1 and fused is not None and act != "linear":
            return None
        alpha = _native_ops._DEFAULT_ALPHA.get(act, 0.0)
        w = layer.kernel.value
        b = layer.bias.value if layer.use_bias else None
        y = cache["y"]
        if y.shape[0] != n:
            return None
        dw = cache["dw"]
        db = cache["db"] if layer.use_bias else None
        dx_buf = cache["dx"]
        dx = dx_buf if need_dx else None
        dz = None if code == _native_ops._LINEAR else np.empty(y.shape, y.dtype)
        forward.append((w, b, y, act, code, alpha))
        inp = forward[-2][2] if k else None
        backward.append([inp, w, y, act, code, alpha, layer.use_bias, need_dx, dz, dx,
                         dx_buf, dw, db])
        if layer.trainable:
            grad_of[id(layer.kernel)] = dw
            if layer.use_bias:
                grad_of[id(layer.bias)] = db
    grads = []
    for var in variables:
        g = grad_of.get(id(var))
        if g is None:
            return None
        grads.append(g)
    params = [v.value for v in variables]
    if layout is not None:
        # the backward writes into this rank's part of the step buffer and the
        # optimizer reads the sum (as the ordinary data-parallel step hands it); a
        # frozen layer's gradients (not in the buffer) stay in its own arrays
        sent = {id(g): view for g, view in zip(grads, layout.grads_in)}
        for entry in backward:
            entry[11] = sent.get(id(entry[11]), entry[11])
            if entry[12] is not None:
                entry[12] = sent.get(id(entry[12]), entry[12])
        grads = list(layout.grads)
    checked_params, checked_grads = opt._checked
    if not (_same(params, checked_params) and _same(grads, checked_grads)):
        return None  # the optimizer would not take its no-check route on these arrays
    backward.reverse()
    return StepPlan(model, ops, layers, variables, params, grads,
                    forward, [tuple(entry) for entry in backward],
                    fused, fused_entry, loss, n, shard, dp, layout)


def _same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


class StepPlan:
    """One batch size's recorded step (made by ``build``)."""

    def __init__(self, model, ops, layers, variables, params, grads, forward, backward,
                 fused, fused_entry, loss, n, shard=None, dp=None, layout=None):
        opt = model.optimizer
        out = forward[-1][2]
        self.ops = ops
        self.optimizer = opt
        self.rule = opt.rule
        self.slots = opt._slot_lists
        self.opt_settings = (opt.weight_decay, opt.clipnorm, opt.global_clipnorm,
                             opt.clipvalue)
        self.graph = model._graph
        self.loss = loss
        self.lw = model._loss_weights[0]
        self.layers = [layer for _, layer, _ in layers]
        self.trainable = [layer.trainable for layer in self.layers]
        every_weight = [w for layer in self.layers for w in layer.weights]
        # a frozen layer's weights are not among ``variables``; they must keep their
        # arrays too (the plan reads them)
        self.weights = [(w, w.value, w.trainable) for w in every_weight]
        self.variables = variables
        self.params = params
        self.grads = grads
        self.forward = forward
        self.backward = backward
        self.fused = fused
        self.fused_entry = fused_entry
        self.reads_output = model._compiled_metrics.reads_output(0)
        self.has_metrics = bool(model._compiled_metrics.templates)
        self.n = n
        self.dtype = out.dtype
        self.dp, self.layout = dp, layout
        if shard is None:
            self.scale, self.scale64 = model._loss_scale(0, loss, n, None, out.dtype)
        else:
            # this share's rows of the global batch's scale (without sample weights
            # it depends on the rows and the position only, which key the plan)
            self.scale64 = np.asarray(loss.reduction_scale(shard.rows, None),
                                      dtype=np.float64)[shard.lo:shard.hi]
            self.scale = self.scale64.astype(out.dtype)
            self.scale.flags.writeable = self.scale64.flags.writeable = False
        self.loss_out = np.empty(n, out.dtype)
        self.grad_out = np.empty(out.shape, out.dtype)
        self.entry = getattr(_native_ops._opt, opt.rule.kernel + "_update")
        wd = opt.weight_decay or 0.0
        self.weight_decays = [wd if f else 0.0 for f in opt._decay_flags]
        self.clipping = opt.clipnorm is not None or opt.global_clipnorm is not None
        self.ones = [1.0] * len(grads)
        self.clipvalue = opt.clipvalue or 0.0

    def valid(self, model, shard=None, metric_run=None):
        """Whether this plan still replays ``model``'s ordinary step exactly (with
        ``shard`` and ``metric_run``: its data-parallel step)."""
        if (shard is None) is not (self.dp is None):
            return False
        if shard is not None and (
                model.__dict__.get("_data_parallel") is not self.dp
                or self.dp.step_layout(self.variables, metric_run) is not self.layout):
            return False
        opt = model.optimizer
        if (backend.current() is not self.ops or opt is not self.optimizer
                or opt.rule is not self.rule or opt._slot_lists is not self.slots
                or model._graph is not self.graph or model._losses[0] is not self.loss
                or (opt.weight_decay, opt.clipnorm, opt.global_clipnorm,
                    opt.clipvalue) != self.opt_settings):
            return False
        for layer, flag in zip(self.layers, self.trainable):
            if layer.trainable is not flag:
                return False
        for w, value, flag in self.weights:
            if w.value is not value or w.trainable is not flag or w.regularizer is not None:
                return False
        return True

    def run(self, x, y, sw, metric_run, model, shard=None):
        """One training step on ``x`` (the batch, ``n`` rows) and ``y`` (its prepared
        targets); returns the loss as the ordinary step does (with a ``shard``: the
        global batch's, summed over the ranks)."""
        ops = self.ops
        nt = _threads.get_num_threads()
        gemm = _native_ops._gemm.gemm
        batch = x
        for w, b, out, act, code, alpha in self.forward:
            if gemm(x, w, out, b, code, alpha, False, nt) != _OK:
                ops.dense_forward(x, w, b, act, out=out)
            x = out
        # x is now the output layer's result: the logits when the loss is fused
        if sw is None:
            scale, scale64 = self.scale, self.scale64
        elif shard is not None:
            from .trainer import _shard_loss_scale  # trainer imports this module

            scale, scale64 = _shard_loss_scale(self.loss, shard, self.dtype)
        else:
            scale, scale64 = model._loss_scale(0, self.loss, self.n, sw, self.dtype)
        lw = self.lw
        gscale = scale * lw if lw != 1.0 else scale
        if self.fused is not None:
            per_sample, g = self.loss_out, self.grad_out
            if self.fused_entry(x, y, gscale, per_sample, g, nt) != _OK:
                per_sample, g = self.loss.forward_backward(y, None, gscale, logits=x)
            pred = ops.activation_forward(x, self.fused) if self.reads_output else None
        else:
            per_sample, g = self.loss.forward_backward(y, x, gscale)
            pred = x
        total = 0.0
        total += lw * float(np.dot(per_sample.astype(np.float64), scale64))
        backward = _native_ops._gemm.dense_backward
        dy = g
        # reversed layer order; ``inp`` is None for the first layer (its input is the
        # batch), else the previous layer's output buffer
        for inp, w, out, act, code, alpha, has_bias, need_dx, dz, dx, dx_buf, dw, db in (
                self.backward):
            xi = batch if inp is None else inp
            if backward(xi, w, out, dy, code, alpha, dz, dx, dw, db, nt) != _OK:
                ops.dense_backward(xi, w, out, dy, act, has_bias, need_dx, dx_buf, dw, db)
            dy = dx
        if self.has_metrics:
            metric_run.update([y], [pred], sw)
        if self.dp is not None:  # the gradients are in the step buffer already
            total = self.dp.finish_step(self.layout, total, metric_run)
        opt = self.optimizer
        params, grads = self.params, self.grads
        step = opt.iterations + 1
        scales = opt._clip_scales(ops, grads) if self.clipping else self.ones
        if self.entry(self.rule, params, grads, self.slots, self.weight_decays, scales,
                      opt._learning_rate, step, self.clipvalue, nt) != _OK:
            ops.multi_update(self.rule, params, grads, self.slots, self.weight_decays,
                             scales, lr=opt._learning_rate, step=step,
                             clipvalue=self.clipvalue)
        opt.iterations = step
        return total
