"""Trainer: compile, fit, evaluate, predict and the *_on_batch methods (Keras 3 meanings).

The fit loop owns batching, shuffling, validation, callbacks and progress.  Data is
validated and converted to the model's float type once per call, never per batch.  A
training step is: forward (keeping per-node caches) -> loss and its gradient (fused with
a softmax/sigmoid output layer when the loss allows: stable and cheaper) -> backward ->
regularizer gradients -> one optimizer update.  Per-node caches are kept per batch size,
so after the first epoch the step reuses every buffer.
"""

import math
import threading

import numpy as np

from .. import backend
from .. import config as _config
from .. import distributed as _distributed
from .. import losses as _losses
from .. import optimizers as _optimizers
from ..callbacks import Callback, CallbackList
from ..utils import random as _random
from ..utils import validation as V
from . import compile_metrics as _compile_metrics
from . import saving
from . import step_plan as _step_plan


class Trainer:
    """Training API mixed into ``Model``."""

    def __init__(self):
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self.compiled = False
        self._train_lock = threading.Lock()
        self._train_holder = None  # (thread id, "fit") of the training call running
        # the latest fit's shuffling generator, and the epoch a resumed fit starts at:
        # what save_training_state / load_training_state save and restore
        self._fit_rng = None
        self._resume_epoch = None
        # the metric objects of the latest fit epoch / evaluate / *_on_batch call, which
        # `metrics` shows (each call updates its own; see compile_metrics)
        self._latest_metric_run = None
        # whether a data-parallel *_on_batch call may skip broadcasting rank 0's model
        # (see _data_parallel_batch)
        self._data_parallel_synced = False
        self._reset_compiled_state()

    def _reset_compiled_state(self):
        """Called when the graph changes: rebind compile settings to the new outputs."""
        self._train_caches = {}  # batch size -> {node id: cache}
        self._step_plans = {}  # batch size -> StepPlan, or a _NoPlan marker
        self._compiled_metrics = _compile_metrics.CompiledMetrics([], [], [])
        self._losses, self._fused = [], {}
        if getattr(self, "compiled", False):
            self._finalize_compile()

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, **kwargs):
        """Configure training.

        Args:
            optimizer: a name ('adam', 'sgd', ...) or an optimizer object.
            loss: a name, function or ``fastnn.losses.Loss``; for several outputs, a list
                (one per output) or a dict by output layer name.
            metrics: a list of metric names or objects ('accuracy' resolves to the
                binary, categorical or sparse variant from the loss, as in Keras);
                for several outputs also one list per output, or a dict by output
                name.  These ignore ``sample_weight`` and ``class_weight``, as in
                Keras 3.
            loss_weights: one float per output (list or dict) scaling its loss.
            weighted_metrics: metrics in the same forms as ``metrics``, weighted by
                ``sample_weight`` and ``class_weight``.  Reported under their names;
                one also in ``metrics`` is reported as ``weighted_<name>``.
        """
        ignored = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            raise TypeError(f"Unrecognized keyword arguments passed to compile: {unknown}")
        if loss is None:
            raise ValueError("compile needs a loss. Received: loss=None")
        self.optimizer = _optimizers.get(optimizer)
        # resolve the loss now so that a bad name fails here, not at fit
        if not isinstance(loss, (list, tuple, dict)):
            _losses.get(loss)
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                              "weighted_metrics": weighted_metrics}
        self.compiled = True
        if self.built:
            self._finalize_compile()

    def _finalize_compile(self):
        """Bind the compiled loss and metrics to the outputs (needs the graph)."""
        args = self._compile_args
        names = self.output_names
        self._losses = [_losses.get(spec) for spec in self._per_output(args["loss"], "loss")]
        if args["loss_weights"] is None:
            self._loss_weights = [1.0] * len(names)
        else:
            self._loss_weights = [
                float(w) for w in self._per_output(args["loss_weights"], "loss_weights")
            ]
        self._compiled_metrics = _compile_metrics.build(
            args["metrics"], args.get("weighted_metrics"), self._per_output, self._losses,
            [t.shape for t in self._graph.outputs], names)
        self._latest_metric_run = None
        self._fused = self._find_fusions()
        self._train_caches = {}
        self._data_parallel_synced = False  # a new optimizer: broadcast again
        self._step_plans = {}

    def _per_output(self, value, what):
        names = self.output_names
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown or len(value) != len(names):
                raise ValueError(
                    f"{what} dict must have one entry per output {names}. Received keys: "
                    f"{sorted(value)}"
                )
            return [value[n] for n in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(
                    f"{what} must have one entry per output ({len(names)}). "
                    f"Received: {len(value)} entries"
                )
            return list(value)
        if isinstance(value, (list, tuple)) and what == "loss_weights":
            if len(value) != 1:
                raise ValueError(f"loss_weights must have 1 entry. Received: {value!r}")
            return list(value)
        return [value] * len(names)

    def _find_fusions(self):
        """Output nodes whose final activation the loss computes itself from logits."""
        fused = {}
        for k, (t, loss) in enumerate(zip(self._graph.outputs, self._losses)):
            act = getattr(loss, "fused_activation", None)
            layer = t.node.layer
            if act is not None and getattr(layer, "activation", None) == act:
                # a layer used more than once may not change its output for one use
                if sum(1 for n in self._graph.nodes if n.layer is layer) == 1:
                    fused[t.node.id] = act
        return fused

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {what}. Call model.compile(optimizer, loss)."
            )

    # ----------------------------------------------------------------- data
    def _dtype(self):
        layers = self.layers
        return np.dtype(layers[0].dtype if layers else _config.floatx())

    def _prepare_x(self, x, name="x", data_parallel=None):
        """``x`` checked and converted.  With ``data_parallel`` (every rank holds the
        same ``x``) each rank looks for NaN and infinite values in its ``1/P`` of the
        rows only and the ranks agree on the answer: checking all of it on every rank
        cost each rank ``P`` times one process's check (0.25-0.5 ms per fit for the
        benchmark's 4096 x 784 float32 at 2 ranks, Zen 5).  On a bad value every rank
        runs the whole check, raising one process's error."""
        self._maybe_build_from_data(x)
        self._require_built(f"Passing data ({name})")
        shapes = [t.shape for t in self._graph.inputs]
        names, dtype = self.input_names, self._dtype()
        if data_parallel is None:
            return V.check_model_inputs(x, shapes, names, dtype, name)
        arrays = V.check_model_inputs(x, shapes, names, dtype, name, allow_nan=True)
        if not data_parallel.all_finite(arrays):
            V.check_model_inputs(x, shapes, names, dtype, name)  # raises the error
            # (only reached if the whole check passed where a share failed: a bug)
            raise ValueError(f"Expected {name} to hold finite values once converted to "
                             f"{np.dtype(dtype).name}. Received: {name} with non-finite "
                             "entries in a rank's share of the rows")
        return arrays

    def _maybe_build_from_data(self, x):
        """Sequential models without a declared input shape build from the first data."""

    def _prepare_xy(self, x, y, what, data_parallel=None):
        """``_prepare_x`` for the calls that take targets, after refusing a ``(x, y)``
        tuple passed as ``x``: Keras takes that form only as ``validation_data``, and
        read as inputs it would fail with NumPy's ragged-array message."""
        if y is None and isinstance(x, tuple) and len(x) in (2, 3):
            raise ValueError(
                f"{what}() received x as a tuple of {len(x)} items and no y. Pass the "
                f"inputs and the targets separately: {what}(x, y"
                + (", sample_weight=w" if len(x) == 3 else "") + "); a (x, y) tuple is "
                "accepted only as validation_data (a model with several inputs takes x "
                "as a list of arrays, and y still separately). "
                f"Received: x=tuple of {len(x)}, y=None"
            )
        return self._prepare_x(x, data_parallel=data_parallel)

    def _prepare_y(self, y, n, name="y"):
        if y is None:
            raise ValueError(f"Expected {name} (the targets). Received: {name}=None")
        names = self.output_names
        if isinstance(y, dict):
            ys = self._per_output(y, name)
        elif len(names) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise ValueError(
                    f"This model has {len(names)} outputs; pass {name} as a list of "
                    f"{len(names)} arrays. Received: {type(y).__name__}"
                )
            ys = list(y)
        else:
            ys = [y]
        out = []
        for k, (target, loss, t) in enumerate(zip(ys, self._losses, self._graph.outputs)):
            label = name if len(ys) == 1 else f"{name}[{k}]"
            if isinstance(target, (str, bytes)) or target is None:
                raise TypeError(f"Expected {label} to be a numeric array. Received: {target!r}")
            target = V.from_pandas(target, label)
            arr = np.asarray(target) if hasattr(target, "shape") else V.to_float_array(
                target, label, np.float64)
            if arr.dtype.kind not in "biuf":
                V.to_float_array(arr, label, np.float64)  # raises the clear TypeError
            if arr.ndim == 0:
                raise ValueError(f"Expected {label} to have one row per sample. Received a scalar")
            out.append(loss.prepare_target(target, t.shape, dtype=self._dtype()))
        V.check_lengths(out + [np.empty((n, 0))], [name] * len(out) + ["x"])
        return out

    def _prepare_weights(self, ys, n, sample_weight, class_weight, owner):
        w = V.check_sample_weight(sample_weight, n, self._dtype())
        if class_weight is not None:
            class_weight = _check_class_weight(class_weight, owner)
            if len(ys) != 1:
                raise ValueError("class_weight is only supported for single-output models.")
            cw = _class_weight_per_sample(ys[0], class_weight, self._dtype())
            w = cw if w is None else w * cw
        return w

    # ----------------------------------------------------------------- steps
    def _forward_loss(self, xs, ys, sw, training, caches, need_grad, shard=None):
        """Forward and loss.  Returns (loss value, predictions, output gradients).

        A prediction is None for an output without metrics (nothing reads it, and for
        a fused output it would cost an activation pass).  With a ``shard`` (this
        rank's rows of a data-parallel global batch) the loss and its gradient are
        this rank's part of the global batch's.
        """
        outs = self._graph.forward(xs, training, caches, skip_activation=self._fused)
        n = xs[0].shape[0]
        total, preds, grads = 0.0, [], []
        for k, (out, t, loss, lw) in enumerate(
            zip(outs, self._graph.outputs, self._losses, self._loss_weights)
        ):
            # the loss's reduction decides the per-sample scale (w / n by default), and
            # the same scale weighs the reported loss and its gradient
            scale, scale64 = (self._loss_scale(k, loss, n, sw, out.dtype) if shard is None
                              else _shard_loss_scale(loss, shard, out.dtype))
            act = self._fused.get(t.node.id)
            gscale = None
            if need_grad:
                gscale = scale * lw if lw != 1.0 else scale
            if act is not None:
                per_sample, g = loss.forward_backward(ys[k], None, gscale, logits=out)
                pred = (backend.current().activation_forward(out, act)
                        if self._compiled_metrics.reads_output(k) else None)
            else:
                per_sample, g = loss.forward_backward(ys[k], out, gscale)
                pred = out
            total += lw * float(np.dot(per_sample.astype(np.float64), scale64))
            preds.append(pred)
            grads.append(g)
        return total, preds, grads

    def _loss_scale(self, k, loss, n, sw, dtype):
        """Output ``k``'s per-sample loss scale for a batch of ``n``, in ``dtype`` and in
        float64.  Without sample weights it depends only on (loss, n, dtype), so it is
        made once per batch size and kept read-only."""
        if sw is not None:
            scale = np.asarray(loss.reduction_scale(n, sw), dtype=dtype)
            return scale, scale.astype(np.float64)
        cache = self.__dict__.get("_loss_scales")
        if cache is None:
            cache = self._loss_scales = {}
        entry = cache.get((k, n, dtype))
        if entry is None or entry[0] is not loss:
            scale = np.asarray(loss.reduction_scale(n, None), dtype=dtype)
            scale64 = scale.astype(np.float64)
            scale.flags.writeable = scale64.flags.writeable = False
            entry = cache[(k, n, dtype)] = (loss, scale, scale64)
        return entry[1], entry[2]

    def _regularization_penalty(self):
        return sum(layer.regularization_penalty() for layer in self.layers)

    def _regularization_plan(self, variables):
        """What a training step needs beyond the graph, worked out when the trainable
        variables change (build, compile, a ``trainable`` flag) instead of every step:
        the layers with regularized weights and where their gradients sit in
        ``variables``."""
        plan = self.__dict__.get("_cached_regularization_plan")
        if plan is not None and plan[0] == variables:
            return plan
        layers = self.layers
        penalized = [layer for layer in layers
                     if any(w.regularizer is not None for w in layer.weights)]
        regularized = []
        for layer in layers:
            weights = layer.trainable_weights
            if weights and any(w.regularizer is not None for w in weights):
                start = _index_of_first(variables, weights[0])
                regularized.append((layer, start, len(weights)))
        plan = self._cached_regularization_plan = (list(variables), penalized, regularized)
        return plan

    def _train_step(self, xs, ys, sw, metric_run, shard=None):
        """One update.  With a ``shard`` (data-parallel ``fit``) the rows are this
        rank's share of a global batch and the gradients are summed over the ranks
        before the update.

        The steps after the first at a batch size (with a shard: at a share of the
        same rows and position) replay the recorded step plan (``step_plan``) when
        there is one and it is still valid; the first step, and any step the plan
        refuses, runs the ordinary path below and records a new plan."""
        n = xs[0].shape[0]
        record = False
        # a shard's plan also depends on where its rows sit in the global batch (the
        # loss scale) and on the step buffer it writes its gradients into
        key = n if shard is None else (n, shard.rows, shard.lo)
        if n:
            plan = self._step_plans.get(key)
            if plan is None:
                record = True
            elif type(plan) is _NoPlan:
                record = not plan.same(self)
            elif plan.valid(self, shard, metric_run):
                return plan.run(xs[0], ys[0], sw, metric_run, self, shard)
            else:
                record = True
        variables = self.trainable_weights
        _, penalized, regularized = self._regularization_plan(variables)
        if n:
            caches = self._train_caches.setdefault(n, {})
            loss, preds, out_grads = self._forward_loss(xs, ys, sw, True, caches,
                                                        need_grad=True, shard=shard)
            grads_by_var = self._graph.backward(caches, out_grads)
            grads = [grads_by_var.get(id(var)) for var in variables]
            if any(g is None for g in grads):  # no gradient reached it: a zero gradient
                grads = [np.zeros_like(var.value) if g is None else g
                         for var, g in zip(variables, grads)]
            metric_run.update(ys, preds, sw)
        else:  # an empty share: a global batch with fewer rows than ranks
            loss, grads = 0.0, [np.zeros_like(var.value) for var in variables]
        # the penalties belong to the weights, not the rows: one rank adds them
        if shard is None or shard.primary:
            if penalized:
                loss += sum(layer.regularization_penalty() for layer in penalized)
            for layer, start, k in regularized:
                layer.add_regularization_grads(grads[start:start + k])
        if shard is not None:
            grads, loss = self._data_parallel.reduce_step(grads, loss, metric_run,
                                                          variables)
        if variables:
            self.optimizer.apply(grads, variables)
        if record:
            plan = None
            if variables and not penalized:
                plan = _step_plan.build(self, n, caches, variables, shard, metric_run)
            self._step_plans[key] = plan if plan is not None else _NoPlan(self)
        return loss

    def _test_step(self, xs, ys, sw, metric_run, shard=None):
        loss = 0.0
        if xs[0].shape[0]:
            loss, preds, _ = self._forward_loss(xs, ys, sw, False, {}, need_grad=False,
                                                shard=shard)
            metric_run.update(ys, preds, sw)
        if shard is None or shard.primary:
            loss += self._regularization_penalty()
        if shard is not None:
            loss = self._data_parallel.reduce_test_step(loss, metric_run)
        return loss

    def _new_metric_run(self, data_parallel=None):
        """Fresh metric objects for one fit epoch, evaluate or *_on_batch call: metric
        state belongs to the call, so concurrent or nested calls never mix it.  In a
        data-parallel call they log the state summed over the ranks."""
        run = self._compiled_metrics.new_run()
        if data_parallel is not None:
            run = data_parallel.metric_run(run)
        self._latest_metric_run = run
        return run

    @property
    def metrics(self):
        """The compiled metric objects, in log order: those of the latest ``fit``
        epoch, ``evaluate`` or ``*_on_batch`` call once there has been one (each call
        updates copies of its own, so an object passed to ``compile`` is a template).
        The loss is not among them."""
        run = self._latest_metric_run
        return run.metrics if run is not None else self._compiled_metrics.templates

    # ----------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, **kwargs):
        """Train the model for a fixed number of epochs.

        Args:
            x: input data: an array, a list of arrays (several inputs), a dict by input
                name, or a pandas DataFrame (numeric columns, nullable dtypes included).
                Generators and datasets are not accepted.
            y: targets: an array, or a list/dict for several outputs.
            batch_size: samples per gradient update (default 32).
            epochs: index of the last epoch (``nb_epoch`` is accepted too).
            verbose: 'auto' or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: a list of ``fastnn.callbacks.Callback``.
            validation_split: fraction of the data, taken from the end before shuffling,
                used only for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``.
            shuffle: shuffle the training samples before each epoch.
            class_weight: dict mapping class index to a weight for the loss.
            sample_weight: per-sample loss weights, shape (n,).
            initial_epoch: epoch at which to start (for resuming).

        Returns:
            A ``History`` whose ``history`` dict holds the per-epoch logs.
        """
        epochs = kwargs.pop("nb_epoch", epochs)
        for unsupported in ("steps_per_epoch", "validation_steps", "validation_batch_size",
                            "validation_freq"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(f"fit does not support {unsupported} yet; use batch_size.")
            kwargs.pop(unsupported, None)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to fit: {sorted(kwargs)}")
        batch_size = _check_batch_size(batch_size, "fit")
        epochs = V.check_int("epochs", epochs, low=0, owner="fit")
        initial_epoch = V.check_int("initial_epoch", initial_epoch, low=0, owner="fit")
        verbose = _check_verbose(verbose, "fit")
        validation_split = V.check_real("validation_split", validation_split, low=0.0,
                                        high=1.0, high_open=True, owner="fit")
        shuffle = V.check_bool("shuffle", shuffle, owner="fit")

        dp = _distributed.data_parallel(self)
        xs = self._prepare_xy(x, y, "fit", dp)
        self._require_compiled("fit")
        n = xs[0].shape[0]
        ys = self._prepare_y(y, n)
        sw = self._prepare_weights(ys, n, sample_weight, class_weight, "fit")

        val = None
        if validation_data is not None:
            val = self._prepare_validation(validation_data)
        elif validation_split:
            n_val = int(n * validation_split)
            if n_val == 0 or n_val == n:
                raise ValueError(
                    f"validation_split={validation_split} leaves {n - n_val} training and "
                    f"{n_val} validation samples out of {n}; both must be at least 1."
                )
            cut = n - n_val
            val = ([a[cut:] for a in xs], [a[cut:] for a in ys],
                   None if sw is None else sw[cut:])
            xs, ys = [a[:cut] for a in xs], [a[:cut] for a in ys]
            sw = None if sw is None else sw[:cut]
            n = cut

        steps = -(-n // batch_size)
        if dp is not None and not dp.primary:
            verbose = 0  # rank 0 alone prints
        cbs = CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps,
        )
        self.stop_training = False
        gather = {}  # batch size -> shuffled-batch buffers, reused across epochs
        seed = _random.draw_seed()
        rng = np.random.default_rng(seed if dp is None else dp.agree(seed))
        with self._training("fit"), _data_parallel_call(self, dp):
            # A callback resuming an interrupted run (BackupAndRestore) calls
            # load_training_state in on_train_begin: it restores this generator's state
            # and sets the epoch to start from.
            self._fit_rng, self._resume_epoch = rng, None
            cbs.on_train_begin()
            if self._resume_epoch is not None:
                initial_epoch = self._resume_epoch
            if dp is not None:  # every rank starts from rank 0's model and position
                dp.sync_model(self, self._data_parallel_synced)
                self._data_parallel_synced = True
                rng.bit_generator.state = dp.agree(rng.bit_generator.state)
                initial_epoch = dp.agree(initial_epoch)
            logs = {}
            for epoch in range(initial_epoch, epochs):
                metric_run = self._new_metric_run(dp)
                cbs.on_epoch_begin(epoch)
                # Without a callback that reads per-batch logs (the default: History
                # and, with verbose=0, nothing else) the batch hooks are not dispatched
                # and the logs are made once per epoch (decided per epoch: a callback
                # may add another).  In a data-parallel fit too: its logs are read from
                # the metric state the step's reduction already summed, with no
                # communication, so ranks may decide differently (rank 0's progress
                # bar).  Dispatching them always cost 14-20 us per step there.
                batch_hooks = _needs_batch_hooks(cbs)
                order = rng.permutation(n) if shuffle else None
                seen, loss_sum = 0, 0.0
                batches = _batches(dp, xs, ys, sw, batch_size, order, gather)
                for step, (bx, by, bw, shard) in enumerate(batches):
                    if batch_hooks:
                        cbs.on_train_batch_begin(step)
                    batch_loss = self._train_step(bx, by, bw, metric_run, shard)
                    m = bx[0].shape[0] if shard is None else shard.rows
                    seen += m
                    loss_sum += batch_loss * m
                    if batch_hooks:
                        logs = {"loss": loss_sum / seen, **metric_run.logs()}
                        if not math.isfinite(batch_loss):
                            logs["loss"] = batch_loss
                        cbs.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                if not batch_hooks and seen:
                    # the logs the last batch would have had, made once per epoch
                    logs = {"loss": loss_sum / seen, **metric_run.logs()}
                    if not math.isfinite(batch_loss):
                        logs["loss"] = batch_loss
                epoch_logs = dict(logs)
                if val is not None and not self.stop_training:
                    val_logs = self._evaluate_arrays(*val, batch_size=batch_size, cbs=cbs)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            cbs.on_train_end(logs)
        self.history = cbs.history
        return self.history

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "Expected validation_data to be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val). Received: {type(validation_data).__name__}"
                + (f" of length {len(validation_data)}" if isinstance(validation_data, (list, tuple)) else "")
            )
        vx = self._prepare_x(validation_data[0], "validation_data[0]")
        vn = vx[0].shape[0]
        vy = self._prepare_y(validation_data[1], vn, "validation_data[1]")
        vw = None
        if len(validation_data) == 3:
            vw = V.check_sample_weight(validation_data[2], vn, self._dtype(),
                                       "validation_data[2]")
        return vx, vy, vw

    class _TrainingGuard:
        """One ``fit``/``train_on_batch`` on a model at a time; a second is refused.

        The refusal says whether the running call is in another thread or in this one
        (a callback calling ``fit`` from inside ``fit``): the fixes differ.
        """

        def __init__(self, model, what):
            self.model, self.what = model, what

        def __enter__(self):
            model = self.model
            if not model._train_lock.acquire(blocking=False):
                # the holder is set just after the lock is taken; a thread that reads
                # None here is another thread, since this thread is not inside it
                holder = model._train_holder
                if holder is not None and holder[0] == threading.get_ident():
                    raise RuntimeError(
                        f"{self.what}() was called from inside {holder[1]}() on the same "
                        "model (from a callback?); a model cannot start training while "
                        f"its own {holder[1]}() is running. Train another model there, or "
                        f"call {self.what}() after {holder[1]}() returns."
                    )
                raise RuntimeError(
                    f"{self.what}: this model is already being trained in another thread. "
                    "Training one model from two threads at once would corrupt its weights "
                    "and optimizer state; train one copy per thread instead."
                )
            model._train_holder = (threading.get_ident(), self.what)

        def __exit__(self, *exc):
            self.model._train_holder = None
            self.model._train_lock.release()

    def _training(self, what):
        return self._TrainingGuard(self, what)

    # ----------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics on the given data.

        Returns:
            ``[loss, *metrics]`` (a float when the model has no metrics), or a dict with
            ``return_dict=True``.
        """
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to evaluate: {sorted(kwargs)}")
        batch_size = _check_batch_size(batch_size, "evaluate")
        verbose = _check_verbose(verbose, "evaluate")
        dp = _distributed.data_parallel(self)
        xs = self._prepare_xy(x, y, "evaluate", dp)
        self._require_compiled("evaluate")
        n = xs[0].shape[0]
        ys = self._prepare_y(y, n)
        sw = V.check_sample_weight(sample_weight, n, self._dtype())
        if dp is not None and not dp.primary:
            verbose = 0  # rank 0 alone prints
        cbs = CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=-(-n // batch_size),
        )
        with _data_parallel_call(self, dp):
            logs = self._evaluate_arrays(xs, ys, sw, batch_size, cbs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, xs, ys, sw, batch_size, cbs=None):
        dp = self.__dict__.get("_data_parallel")  # set by a data-parallel fit / evaluate
        metric_run = self._new_metric_run(dp)
        if cbs is not None:
            cbs.on_test_begin()
        seen, loss_sum, logs = 0, 0.0, {}
        batches = _batches(dp, xs, ys, sw, batch_size, None)
        for step, (bx, by, bw, shard) in enumerate(batches):
            if cbs is not None:
                cbs.on_test_batch_begin(step)
            batch_loss = self._test_step(bx, by, bw, metric_run, shard)
            m = bx[0].shape[0] if shard is None else shard.rows
            seen += m
            loss_sum += batch_loss * m
            logs = {"loss": loss_sum / seen, **metric_run.logs()}
            if cbs is not None:
                cbs.on_test_batch_end(step, logs)
        if cbs is not None:
            cbs.on_test_end(logs)
        return logs

    # ----------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose="auto", callbacks=None, **kwargs):
        """Outputs for ``x``, computed in batches with inference behaviour (no Dropout)."""
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to predict: {sorted(kwargs)}")
        batch_size = _check_batch_size(batch_size, "predict")
        verbose = _check_verbose(verbose, "predict")
        xs = self._prepare_x(x)
        n = xs[0].shape[0]
        cbs = CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=1, steps=-(-n // batch_size),
        )
        cbs.on_predict_begin()
        chunks = [[] for _ in self._graph.outputs]
        for step, start in enumerate(range(0, n, batch_size)):
            cbs.on_predict_batch_begin(step)
            outs = self._graph.forward([a[start:start + batch_size] for a in xs], False, {})
            for k, o in enumerate(outs):
                chunks[k].append(o)
            cbs.on_predict_batch_end(step, {})
        cbs.on_predict_end()
        results = [np.concatenate(c, axis=0) for c in chunks]
        return results if self._multi_output else results[0]

    # ----------------------------------------------------------------- on_batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient update on one batch; returns the loss and metrics of that batch."""
        xs = self._prepare_xy(x, y, "train_on_batch")
        self._require_compiled("train_on_batch")
        n = xs[0].shape[0]
        ys = self._prepare_y(y, n)
        sw = self._prepare_weights(ys, n, sample_weight, class_weight, "train_on_batch")
        dp = _distributed.data_parallel(self)
        with self._training("train_on_batch"), _data_parallel_call(self, dp):
            xs, ys, sw, shard = self._data_parallel_batch(dp, xs, ys, sw)
            metric_run = self._new_metric_run(dp)
            loss = self._train_step(xs, ys, sw, metric_run, shard)
        return self._batch_result(loss, metric_run, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on one batch, without updating the model."""
        xs = self._prepare_xy(x, y, "test_on_batch")
        self._require_compiled("test_on_batch")
        n = xs[0].shape[0]
        ys = self._prepare_y(y, n)
        sw = V.check_sample_weight(sample_weight, n, self._dtype())
        dp = _distributed.data_parallel(self)
        with _data_parallel_call(self, dp):
            xs, ys, sw, shard = self._data_parallel_batch(dp, xs, ys, sw)
            metric_run = self._new_metric_run(dp)
            loss = self._test_step(xs, ys, sw, metric_run, shard)
        return self._batch_result(loss, metric_run, return_dict)

    def _data_parallel_batch(self, dp, xs, ys, sw):
        """In a data-parallel run, this rank's share of the global batch a
        ``*_on_batch`` call got (every rank passes the same one), and its ``Shard``;
        the batch itself, and None, otherwise.

        The first such call after ``compile``, ``set_weights`` or a load on any rank
        broadcasts rank 0's weights and optimizer state (as ``fit`` does when it
        starts), so that a custom loop over ``train_on_batch`` starts every rank equal.
        """
        if dp is None:
            return xs, ys, sw, None
        # decided together: a rank that broadcasts alone would wait for the others
        if dp.any_rank(not self._data_parallel_synced):
            dp.broadcast_model(self)
            self._data_parallel_synced = True
        return next(iter(dp.batches(xs, ys, sw, xs[0].shape[0], None)))

    def predict_on_batch(self, x):
        """Outputs for one batch."""
        xs = self._prepare_x(x)
        outs = self._graph.forward(xs, False, {})
        return outs if self._multi_output else outs[0]

    def _batch_result(self, loss, metric_run, return_dict):
        logs = {"loss": float(loss), **metric_run.logs()}
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ----------------------------------------------------------------- saving
    def save(self, filepath, overwrite=True):
        """Save architecture, weights, compile settings and optimizer state to one file."""
        if _distributed.is_primary():  # in a data-parallel run, rank 0 writes
            saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights (a ``.npz`` file, written atomically)."""
        if _distributed.is_primary():  # in a data-parallel run, rank 0 writes
            saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (shapes are checked first)."""
        saving.load_weights(self, filepath)
        self._data_parallel_synced = False

    # ----------------------------------------------------------------- resuming fit
    def save_training_state(self, filepath, epoch):
        """Save everything a ``fit`` needs to resume at ``epoch``, atomically.

        The file is a model file (as ``save`` writes: weights, optimizer state, per-layer
        random state) whose metadata also holds ``epoch``, the global random state and
        the state of the running ``fit``'s shuffling generator.  Called by
        ``callbacks.BackupAndRestore`` at the end of an epoch.

        Args:
            filepath: the file to write (its directory must exist).
            epoch: index of the epoch to resume at: the one after the last finished.
        """
        rng = self._fit_rng
        state = {
            "epoch": int(epoch),
            "fit_rng": None if rng is None else rng.bit_generator.state,
            "global_rng": _random.get_state(),
            "layer_rng_states": [
                layer.get_rng_state() if hasattr(layer, "get_rng_state") else None
                for layer in self.layers
            ],
        }
        if _distributed.is_primary():  # in a data-parallel run, rank 0 writes
            saving.save_model(self, filepath, training_state=state)

    def load_training_state(self, filepath):
        """Load a file written by ``save_training_state`` into this model.

        Restores the weights, optimizer state and random states.  Called from a
        callback's ``on_train_begin`` (``callbacks.BackupAndRestore``), it also makes the
        running ``fit`` start at the saved epoch, shuffling as the interrupted run would
        have.

        Args:
            filepath: the file to read.

        Returns:
            The epoch the training resumes at.

        Raises:
            ValueError: the file is not such a backup, or was written from another
                architecture (then checked before any weight changes).
        """
        state = saving.restore_training_state(self, filepath)
        self._data_parallel_synced = False
        if self._fit_rng is not None:
            self._fit_rng.bit_generator.state = state["fit_rng"]
        _random.set_state(state["global_rng"])
        self._resume_epoch = state["epoch"]
        return self._resume_epoch


class _NoPlan:
    """What ``_step_plans`` holds for a batch size whose step has no plan: the backend
    and optimizer it was decided under, so that the decision is made again (one
    ``step_plan.build``) only when one of them changes, not at every step."""

    __slots__ = ("ops", "optimizer")

    def __init__(self, model):
        self.ops, self.optimizer = backend.current(), model.optimizer

    def same(self, model):
        return self.ops is backend.current() and self.optimizer is model.optimizer


def _needs_batch_hooks(cbs):
    """Whether any callback of ``cbs`` does something in a training batch hook (one
    of them overridden, or set on the instance as LambdaCallback does)."""
    for cb in cbs.callbacks:
        for hook in _BATCH_HOOKS:
            if getattr(getattr(cb, hook), "__func__", None) is not getattr(Callback, hook):
                return True
    return False


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                "on_batch_end")


def _batches(data_parallel, xs, ys, sw, batch_size, order, gather=None):
    """``(xs, ys, sample_weight, shard)`` per batch: whole batches (shard None) in one
    process, this rank's share of each global batch in a data-parallel call.
    ``gather`` (a dict kept by the caller) holds the buffers shuffled batches are
    gathered into; without it each batch is a new array."""
    if data_parallel is None:
        return _Batches(xs, ys, sw, batch_size, order, gather)
    return data_parallel.batches(xs, ys, sw, batch_size, order, gather)


class _data_parallel_call:
    """The span of a data-parallel ``fit`` / ``evaluate``: the model knows its
    ``DataParallel`` (its validation runs sharded too), and an exception ends every
    rank instead of leaving the others waiting in their next Allreduce."""

    def __init__(self, model, data_parallel):
        self.model, self.dp = model, data_parallel

    def __enter__(self):
        if self.dp is not None:
            self.before = self.model.__dict__.get("_data_parallel")
            self.model._data_parallel = self.dp
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.dp is None:
            return False
        self.model._data_parallel = self.before
        if exc is not None:
            _distributed.report_and_abort(exc)
        return False


def _shard_loss_scale(loss, shard, dtype):
    """This rank's rows of the per-sample loss scale of its global batch, in ``dtype``
    and in float64: with them the ranks' losses and gradients add up to the global
    batch's."""
    scale64 = np.asarray(loss.reduction_scale(shard.rows, shard.sample_weight),
                         dtype=np.float64)[shard.lo:shard.hi]
    return scale64.astype(dtype), scale64


class _Batches:
    """Iterates over (x, y, sample_weight, None) batches; shuffled batches are gathered
    into buffers reused from one epoch to the next."""

    def __init__(self, xs, ys, sw, batch_size, order, gather=None):
        self.xs, self.ys, self.sw = xs, ys, sw
        self.batch_size, self.order = batch_size, order
        self.n = xs[0].shape[0]
        self.gather = gather

    def __iter__(self):
        bs, n, xs, ys, sw, order = (self.batch_size, self.n, self.xs, self.ys, self.sw,
                                    self.order)
        if order is not None and self.gather is not None:
            yield from self._gathered()
            return
        if order is None and len(xs) == 1 and len(ys) == 1:
            # the common case without the two list comprehensions per batch
            x0, y0 = xs[0], ys[0]
            for start in range(0, n, bs):
                stop = start + bs
                yield ([x0[start:stop]], [y0[start:stop]],
                       None if sw is None else sw[start:stop], None)
            return
        for start in range(0, n, bs):
            stop = min(start + bs, n)
            if order is None:
                yield ([a[start:stop] for a in xs], [a[start:stop] for a in ys],
                       None if sw is None else sw[start:stop], None)
            else:
                idx = order[start:stop]
                yield ([a.take(idx, axis=0) for a in xs], [a.take(idx, axis=0) for a in ys],
                       None if sw is None else sw.take(idx), None)

    def _gathered(self):
        """Shuffled batches gathered into buffers kept per batch size: a batch is
        overwritten by the next one of its size (nothing keeps a batch past its step:
        the layers' caches are refilled by every forward)."""
        bs, n, order, gather = self.batch_size, self.n, self.order, self.gather
        arrays = self.xs + self.ys + ([] if self.sw is None else [self.sw])
        nx, ny = len(self.xs), len(self.ys)
        for start in range(0, n, bs):
            stop = min(start + bs, n)
            m = stop - start
            bufs = gather.get(m)
            if bufs is None or any(b.dtype != a.dtype or b.shape[1:] != a.shape[1:]
                                   for b, a in zip(bufs, arrays)):
                bufs = gather[m] = [np.empty((m,) + a.shape[1:], a.dtype) for a in arrays]
            idx = order[start:stop]
            for a, b in zip(arrays, bufs):
                # "clip" cannot clip here (a permutation's indices are in range) and,
                # unlike the default "raise", writes into ``out`` without a temporary
                np.take(a, idx, axis=0, out=b, mode="clip")
            yield (bufs[:nx], bufs[nx:nx + ny], bufs[nx + ny] if self.sw is not None
                   else None, None)


def _index_of_first(variables, var):
    for i, v in enumerate(variables):
        if v is var:
            return i
    raise ValueError("variable not found")


def _check_batch_size(batch_size, owner):
    """``batch_size`` as an int >= 1; None means 32, as in Keras."""
    return V.check_int("batch_size", 32 if batch_size is None else batch_size, low=1,
                       owner=owner)


def _check_verbose(verbose, owner):
    """``verbose`` as 0, 1 or 2; 'auto' means 1 (a progress bar), as in Keras."""
    if isinstance(verbose, bool):
        # True and False equal 1 and 0, so check_choice would let them through
        V.check_int("verbose", verbose, owner=owner)  # refuses every bool
    V.check_choice("verbose", verbose, ("auto", 0, 1, 2), owner=owner)
    return 1 if verbose == "auto" else int(verbose)


def _check_class_weight(class_weight, owner):
    """``class_weight`` as a {class index (int): weight (float)} dict, checked."""
    if not isinstance(class_weight, dict):
        V.refuse_argument("class_weight", class_weight,
                          "a dict mapping class indices (int) to weights (numbers >= 0)",
                          wrong_type=True, owner=owner)
    checked = {}
    for c, wt in class_weight.items():
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
            V.refuse_argument("class_weight", class_weight,
                              f"integer class indices as keys (the key {c!r} is a "
                              f"{type(c).__name__})", wrong_type=True, owner=owner)
        checked[int(c)] = V.check_real(f"class_weight[{int(c)}]", wt, low=0.0, owner=owner)
    return checked


def _class_weight_per_sample(y, class_weight, dtype):
    """Per-sample weights from a checked {class: weight} dict, classes read as Keras
    does: the argmax of one-hot rows, else the rounded label.

    Labels are compared as float64, never cast to an integer type: a cast would wrap a
    label such as 1e20 around to an unrelated class index."""
    if y.ndim == 2 and y.shape[1] > 1:
        classes = y.argmax(axis=1)
    else:
        classes = np.rint(y.reshape(-1).astype(np.float64, copy=False))
    weights = np.ones(classes.shape[0], dtype=dtype)
    for c, wt in class_weight.items():
        weights[classes == c] = wt
    return weights
