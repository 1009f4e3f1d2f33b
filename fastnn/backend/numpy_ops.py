"""NumpyOps: every primitive fastnn's layers, losses and optimizers use, in plain NumPy.

This class is the contract.  It is the reference the native backend is tested against and
the baseline it is benchmarked against, so it favours clarity over cleverness.

Conventions shared by every method (NativeOps keeps them too):

* Arrays are C-contiguous float32 or float64 unless a method says otherwise; callers (the
  layers) validate and convert once, the ops trust their inputs.
* ``out=`` / ``out_*=`` arguments are optional preallocated outputs.  When given, the
  result is written there and that same array is returned, which is how the training
  loop avoids allocating per step.
* Each forward primitive has an explicit backward partner, because NumPy has no autodiff.
* Optimizer updates modify the parameter and its state arrays in place.
"""

import numpy as np

from .. import threads as _threads
from . import activations as _act


def _out(out, shape, dtype):
    return np.empty(shape, dtype=dtype) if out is None else out


class NumpyOps:
    """The reference implementation of every primitive."""

    name = "numpy"

    # ------------------------------------------------------------------ matmul / dense
    def matmul(self, a, b, transpose_a=False, transpose_b=False, out=None):
        """``op(a) @ op(b)`` where ``op`` transposes when asked."""
        a = a.T if transpose_a else a
        b = b.T if transpose_b else b
        with _threads.blas_call():  # a fork waits for it (see fastnn.threads)
            if out is None:
                return a @ b
            np.matmul(a, b, out=out)
        return out

    def dense_forward(self, x, w, b, activation="linear", out=None, alpha=None):
        """``y = act(x @ w + b)``; ``b`` may be None.  ``activation`` must not be in
        NEEDS_INPUT: for those the layer runs 'linear' then ``activation_forward``."""
        y = self.matmul(x, w, out=out)
        if b is not None:
            y += b
        return self.activation_forward(y, activation, out=y, alpha=alpha)

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
        """Gradients of ``y = act(x @ w + b)``.

        The activation derivative is taken from the output ``y``.  Returns ``(dx, dw, db)``
        where ``dx`` is None unless ``need_dx`` and ``db`` is None unless ``has_bias``.
        ``dy`` is not modified.
        """
        dz = self.activation_backward(dy, y, activation, alpha=alpha)
        dw = self.matmul(x, dz, transpose_a=True, out=out_dw)
        db = self.bias_grad(dz, out=out_db) if has_bias else None
        dx = self.matmul(dz, w, transpose_b=True, out=out_dx) if need_dx else None
        return dx, dw, db

    def bias_grad(self, dz, out=None):
        """Column sums of ``dz`` (the bias gradient)."""
        if out is None:
            return dz.sum(axis=0)
        np.sum(dz, axis=0, out=out)
        return out

    # ------------------------------------------------------------------ activations
    def activation_forward(self, x, activation, out=None, alpha=None):
        """``f(x)`` for a name in ``activations.ACTIVATIONS`` (``out`` may alias ``x``)."""
        a = _act.resolve_alpha(activation, alpha)
        out = _out(out, x.shape, x.dtype)
        if activation == "linear":
            if out is not x:
                np.copyto(out, x)
        elif activation == "relu":
            np.maximum(x, 0, out=out)
        elif activation == "sigmoid":
            self._sigmoid(x, out)
        elif activation == "tanh":
            np.tanh(x, out=out)
        elif activation == "softmax":
            self.softmax(x, out=out)
        elif activation == "leaky_relu":
            np.copyto(out, np.where(x > 0, x, a * x))
        elif activation == "elu":
            np.copyto(out, np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))))
        elif activation == "selu":
            neg = _act.SELU_ALPHA * np.expm1(np.minimum(x, 0))
            np.copyto(out, _act.SELU_SCALE * np.where(x > 0, x, neg))
        elif activation == "gelu":
            # exact (erf) form, Keras 3's default approximate=False
            np.copyto(out, 0.5 * x * (1.0 + self._erf(x / np.sqrt(2.0))))
        elif activation == "softplus":
            np.copyto(out, np.logaddexp(0, x))
        elif activation == "swish":
            s = self._sigmoid(x, np.empty_like(x))
            np.multiply(x, s, out=out)
        else:
            raise ValueError(f"Unknown activation. Received: activation={activation!r}")
        return out

    def activation_backward(self, dy, y, activation, x=None, out=None, alpha=None):
        """``dL/dx`` given ``dL/dy`` and the output ``y`` (and ``x`` for NEEDS_INPUT)."""
        a = _act.resolve_alpha(activation, alpha)
        if activation in _act.NEEDS_INPUT and x is None:
            raise ValueError(f"activation_backward for {activation!r} needs x")
        if activation == "linear":
            g = dy
        elif activation == "relu":
            g = dy * (y > 0)
        elif activation == "sigmoid":
            g = dy * y * (1 - y)
        elif activation == "tanh":
            g = dy * (1 - y * y)
        elif activation == "softmax":
            g = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
        elif activation == "leaky_relu":
            # for a >= 0, y > 0 exactly when x > 0
            g = np.where(y > 0, dy, a * dy)
        elif activation == "elu":
            # y = a*(e^x - 1) for x <= 0, so f'(x) = a*e^x = y + a
            g = np.where(y > 0, dy, dy * (y + a))
        elif activation == "selu":
            sa = _act.SELU_SCALE * _act.SELU_ALPHA
            g = np.where(y > 0, dy * _act.SELU_SCALE, dy * (y + sa))
        elif activation == "softplus":
            # sigmoid(x) = 1 - exp(-softplus(x))
            g = dy * -np.expm1(-y)
        elif activation == "gelu":
            cdf = 0.5 * (1.0 + self._erf(x / np.sqrt(2.0)))
            pdf = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
            g = dy * (cdf + x * pdf)
        elif activation == "swish":
            s = self._sigmoid(x, np.empty_like(x))
            g = dy * (s * (1 + x * (1 - s)))
        else:
            raise ValueError(f"Unknown activation. Received: activation={activation!r}")
        g = np.asarray(g, dtype=dy.dtype)
        if out is None:
            return g if g is not dy else g.copy()
        np.copyto(out, g)
        return out

    def softmax(self, x, out=None):
        """Row-wise softmax, shifted by the row maximum so that huge logits stay finite."""
        out = _out(out, x.shape, x.dtype)
        np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    @staticmethod
    def _sigmoid(x, out):
        # Two branches so that exp never overflows: e^-|x| is always <= 1.
        e = np.exp(-np.abs(x))
        np.copyto(out, np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)))
        return out

    @staticmethod
    def _erf(x):
        # NumPy has no erf; math.erf per element is exact and gelu is not a hot path
        # on this backend.
        from math import erf

        return np.vectorize(erf, otypes=[x.dtype])(x) if x.size else x.copy()

    # ------------------------------------------------------------------ losses
    # Every loss returns the per-sample loss (shape (n,)) and, when asked, the gradient
    # of sum_i(grad_scale[i] * loss_i) with respect to the prediction (or the logits for
    # the fused ones).  The caller chooses grad_scale: Keras' "sum_over_batch_size"
    # reduction with sample weights w is grad_scale = w / n.

    def softmax_crossentropy(self, logits, target, sparse, grad_scale=None, out_grad=None):
        """Fused softmax + categorical (``sparse=False``, one-hot ``target``) or sparse
        categorical (integer ``target``) cross-entropy, computed from logits with
        log-sum-exp so that logits of +-1e4 stay finite."""
        shifted = logits - logits.max(axis=-1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        logp = shifted - lse
        n = logits.shape[0]
        if sparse:
            idx = target.astype(np.intp, copy=False)
            loss = -logp[np.arange(n), idx]
        else:
            loss = -(target * logp).sum(axis=-1)
        if grad_scale is None:
            return loss, None
        grad = _out(out_grad, logits.shape, logits.dtype)
        np.exp(logp, out=grad)
        if sparse:
            grad[np.arange(n), idx] -= 1
        else:
            # d/dz of -sum(t * log softmax(z)) = softmax(z) * sum(t) - t
            grad *= target.sum(axis=-1, keepdims=True)
            grad -= target
        grad *= grad_scale[:, None]
        return loss, grad

    def sigmoid_binary_crossentropy(self, logits, target, grad_scale=None, out_grad=None):
        """Fused sigmoid + binary cross-entropy from logits, averaged over the last axis:
        ``max(z, 0) - z*t + log(1 + exp(-|z|))`` never overflows."""
        elem = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        loss = elem.mean(axis=-1)
        if grad_scale is None:
            return loss, None
        grad = _out(out_grad, logits.shape, logits.dtype)
        self._sigmoid(logits, grad)
        grad -= target
        grad *= grad_scale[:, None] / logits.shape[-1]
        return loss, grad

    def loss(self, name, y_true, y_pred, grad_scale=None, epsilon=1e-7):
        """Per-sample loss of a prediction (not logits) and its gradient.

        ``name`` is one of: mse, mae, hinge, categorical_hinge, binary_crossentropy,
        categorical_crossentropy, sparse_categorical_crossentropy.  The cross-entropies
        clip probabilities to ``[epsilon, 1 - epsilon]`` as Keras does.
        """
        d = y_pred.shape[-1]
        if name == "mse":
            diff = y_pred - y_true
            loss = (diff * diff).mean(axis=-1)
            grad = None if grad_scale is None else 2.0 * diff / d
        elif name == "mae":
            diff = y_pred - y_true
            loss = np.abs(diff).mean(axis=-1)
            grad = None if grad_scale is None else np.sign(diff) / d
        elif name == "hinge":
            # Keras maps 0/1 labels to -1/+1 before the margin.
            t = np.where(y_true == 0, -1.0, y_true).astype(y_pred.dtype)
            margin = 1.0 - t * y_pred
            loss = np.maximum(margin, 0).mean(axis=-1)
            grad = None if grad_scale is None else -t * (margin > 0) / d
        elif name == "categorical_hinge":
            pos = (y_true * y_pred).sum(axis=-1)
            neg_all = (1.0 - y_true) * y_pred
            j = neg_all.argmax(axis=-1)
            neg = neg_all[np.arange(len(j)), j]
            margin = neg - pos + 1.0
            loss = np.maximum(margin, 0)
            grad = None
            if grad_scale is not None:
                active = (margin > 0).astype(y_pred.dtype)[:, None]
                grad = -y_true * active
                onehot_neg = np.zeros_like(y_pred)
                onehot_neg[np.arange(len(j)), j] = 1.0
                grad = grad + onehot_neg * (1.0 - y_true) * active
        elif name == "binary_crossentropy":
            p = np.clip(y_pred, epsilon, 1.0 - epsilon)
            elem = -(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p))
            loss = elem.mean(axis=-1)
            grad = None
            if grad_scale is not None:
                inside = (y_pred > epsilon) & (y_pred < 1.0 - epsilon)
                grad = (-(y_true / p) + (1.0 - y_true) / (1.0 - p)) * inside / d
        elif name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            t = y_true
            if name == "sparse_categorical_crossentropy":
                t = np.zeros_like(y_pred)
                t[np.arange(len(y_true)), y_true.astype(np.intp)] = 1.0
            # Keras renormalises the prediction to sum to one, then clips.
            s = y_pred.sum(axis=-1, keepdims=True)
            q = y_pred / s
            qc = np.clip(q, epsilon, 1.0 - epsilon)
            loss = -(t * np.log(qc)).sum(axis=-1)
            grad = None
            if grad_scale is not None:
                inside = (q > epsilon) & (q < 1.0 - epsilon)
                gq = -t / qc * inside
                # chain rule through q = p / sum(p)
                grad = (gq - (gq * q).sum(axis=-1, keepdims=True)) / s
        else:
            raise ValueError(f"Unknown loss. Received: name={name!r}")
        loss = loss.astype(y_pred.dtype, copy=False)
        if grad is None:
            return loss, None
        grad = np.asarray(grad, dtype=y_pred.dtype) * grad_scale[:, None]
        return loss, grad.astype(y_pred.dtype, copy=False)

    # ------------------------------------------------------------------ regularizers
    def l1_l2_penalty(self, w, l1, l2):
        """``l1 * sum|w| + l2 * sum(w^2)`` as a Python float."""
        p = 0.0
        if l1:
            p += l1 * float(np.abs(w).sum())
        if l2:
            p += l2 * float((w * w).sum())
        return p

    def add_l1_l2_grad(self, w, dw, l1, l2):
        """``dw += l1 * sign(w) + 2 * l2 * w`` in place."""
        if l1:
            dw += l1 * np.sign(w)
        if l2:
            dw += (2.0 * l2) * w
        return dw

    # ------------------------------------------------------------------ optimizers
    # Updates follow Keras 3.  Each one: optional per-element clipping of the gradient
    # (``clipvalue``, 0 = off) and scaling (``grad_scale``, used for clipnorm), then
    # decoupled weight decay ``p -= lr * weight_decay * p``, then the rule itself.

    def sum_squares(self, x):
        """``sum(x^2)`` as a Python float (for clipnorm)."""
        return float(np.dot(x.ravel(), x.ravel()))

    def multi_update(self, rule, params, grads, slots, weight_decays, grad_scales, *, lr,
                     step, clipvalue=0.0):
        """One optimizer step over several variables, in place.

        Args:
            rule: The rule and its hyperparameters, a record of
                ``fastnn.optimizers.rules`` (``AdamRule(beta_1=..., ...)``, ...).
            params: The variables' arrays, updated in place.
            grads: One gradient per variable, of its shape and dtype (never written).
            slots: One entry per name of ``rule.SLOTS``: the list of that state array
                per variable (updated in place), or None where ``rule.slots()`` does not
                use it.
            weight_decays: Per variable, the decoupled weight decay (0 = off).
            grad_scales: Per variable, the gradient's multiplier (clipnorm; 1 = off).
            lr: The learning rate.
            step: The step number, counted from 1 (Adam's bias correction).
            clipvalue: Each gradient element is clipped to ``[-clipvalue, clipvalue]``
                first (0 = off).
        """
        update = getattr(self, f"_{rule.kernel}_update")
        for i, (param, grad) in enumerate(zip(params, grads)):
            g = self._prepare_grad(param, grad, lr, weight_decays[i], grad_scales[i],
                                   clipvalue)
            update(rule, param, g, *[None if s is None else s[i] for s in slots], lr=lr,
                   step=step)

    @staticmethod
    def _prepare_grad(param, grad, lr, weight_decay, grad_scale, clipvalue):
        g = grad
        if clipvalue:
            g = np.clip(g, -clipvalue, clipvalue)
        if grad_scale != 1.0:
            g = g * grad_scale
        if weight_decay:
            param -= (lr * weight_decay) * param
        return g

    # Each rule on one variable: its prepared gradient ``g`` and its slots (rule.SLOTS).
    @staticmethod
    def _sgd_update(rule, param, g, velocity, *, lr, step):
        """Keras SGD: ``v = momentum*v - lr*g``; ``p += v`` (Nesterov:
        ``p += momentum*v - lr*g``); without momentum ``p -= lr*g``."""
        momentum = rule.momentum
        if not momentum:
            param -= lr * g
            return
        velocity *= momentum
        velocity -= lr * g
        if rule.nesterov:
            param += momentum * velocity - lr * g
        else:
            param += velocity

    @staticmethod
    def _adagrad_update(rule, param, g, accumulator, *, lr, step):
        """Keras Adagrad: ``acc += g^2``; ``p -= lr * g / sqrt(acc + eps)``."""
        accumulator += g * g
        param -= lr * g / np.sqrt(accumulator + rule.epsilon)

    @staticmethod
    def _rmsprop_update(rule, param, g, velocity, momentum_buf, average_grad, *, lr, step):
        """Keras RMSprop: ``v = rho*v + (1-rho)*g^2``; ``p -= lr * g / sqrt(v + eps)``
        (centered subtracts the squared running mean; momentum accumulates the step)."""
        rho = rule.rho
        velocity *= rho
        velocity += (1.0 - rho) * g * g
        denom = velocity
        if rule.centered:
            average_grad *= rho
            average_grad += (1.0 - rho) * g
            denom = velocity - average_grad * average_grad
        update = lr * g / np.sqrt(denom + rule.epsilon)
        if rule.momentum:
            momentum_buf *= rule.momentum
            momentum_buf += update
            param -= momentum_buf
        else:
            param -= update

    @staticmethod
    def _adam_update(rule, param, g, m, v, v_hat, *, lr, step):
        """Keras Adam (AdamW is this with a weight decay): ``m += (g - m)(1 - b1)``,
        ``v += (g^2 - v)(1 - b2)``, ``p -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``
        (amsgrad divides by the running maximum of ``v``)."""
        beta_1, beta_2 = rule.beta_1, rule.beta_2
        alpha = lr * np.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        m += (g - m) * (1.0 - beta_1)
        v += (g * g - v) * (1.0 - beta_2)
        if rule.amsgrad:
            np.maximum(v_hat, v, out=v_hat)
            param -= alpha * m / (np.sqrt(v_hat) + rule.epsilon)
        else:
            param -= alpha * m / (np.sqrt(v) + rule.epsilon)

    # ------------------------------------------------------------------ dropout
    def dropout_mask(self, shape, rate, seed, stream, dtype, out=None):
        """The inverted-dropout multiplier: ``1/(1-rate)`` where kept, 0 where dropped.

        Element ``i`` (in C order) is kept when ``uniform(seed, stream, i) >= rate``, so
        the mask depends only on (seed, stream, i): the same whatever the thread count,
        and the native backend reproduces it bit for bit.
        """
        n = int(np.prod(shape))
        u = counter_uniform(seed, stream, n)
        out = _out(out, shape, dtype)
        keep = (u >= rate).reshape(shape)
        np.multiply(keep, 1.0 / (1.0 - rate), out=out, casting="unsafe")
        return out

    # ------------------------------------------------------------------ layer primitives
    # Added for the layers beyond Dense (Dropout, PReLU, Maxout, BatchNormalization,
    # Embedding, Concatenate, Add).  Each forward has its backward partner next to it.

    def apply_mask(self, x, mask, out=None):
        """``x * mask``, ``mask`` broadcasting against ``x`` (dropout's forward and backward)."""
        out = _out(out, x.shape, x.dtype)
        np.multiply(x, mask, out=out)
        return out

    def prelu_forward(self, x, alpha, out=None):
        """``x`` where ``x > 0``, else ``alpha * x``; ``alpha`` broadcasts against one sample
        (its shape is ``x.shape[1:]`` with shared axes set to 1)."""
        out = _out(out, x.shape, x.dtype)
        np.copyto(out, np.where(x > 0, x, alpha * x))
        return out

    def prelu_backward(self, x, alpha, dy, out_dx=None, out_dalpha=None):
        """Gradients of ``prelu_forward``: ``(dx, dalpha)``, ``dalpha`` summed over the
        batch and over the axes ``alpha`` is shared along."""
        pos = x > 0
        out_dx = _out(out_dx, x.shape, x.dtype)
        np.copyto(out_dx, np.where(pos, dy, alpha * dy))
        per_elem = np.where(pos, 0.0, dy * x)
        shared = tuple(
            i + 1 for i, s in enumerate(alpha.shape) if s == 1 and x.shape[i + 1] != 1
        )
        dalpha = per_elem.sum(axis=(0,) + shared, keepdims=True).reshape(alpha.shape)
        out_dalpha = _out(out_dalpha, alpha.shape, alpha.dtype)
        np.copyto(out_dalpha, dalpha, casting="unsafe")
        return out_dx, out_dalpha

    def maxout_forward(self, z, num_pieces, out=None, out_index=None):
        """Max over consecutive groups of ``num_pieces`` columns of a 2-D ``z``.

        Output unit ``j`` is ``max(z[:, j*num_pieces : (j+1)*num_pieces])``.  Returns
        ``(y, index)`` where ``index`` (intp, shape of ``y``) is the winning piece, which
        is all the backward pass needs.
        """
        n, m = z.shape
        groups = z.reshape(n, m // num_pieces, num_pieces)
        idx = groups.argmax(axis=-1)
        if out_index is not None:
            np.copyto(out_index, idx)
            idx = out_index
        out = _out(out, idx.shape, z.dtype)
        np.copyto(out, np.take_along_axis(groups, idx[..., None], axis=-1)[..., 0])
        return out, idx

    def maxout_backward(self, dy, index, num_pieces, out=None):
        """Route ``dy`` to the winning piece of each group (zeros elsewhere)."""
        n, units = dy.shape
        out = _out(out, (n, units * num_pieces), dy.dtype)
        out.fill(0)
        groups = out.reshape(n, units, num_pieces)
        np.put_along_axis(groups, index[..., None], dy[..., None], axis=-1)
        return out

    def moments(self, x, out_mean=None, out_var=None):
        """Column means and biased variances of a 2-D ``x`` (batch normalization's
        statistics; biased, as Keras uses them for both normalizing and the moving
        average)."""
        out_mean = _out(out_mean, x.shape[1:], x.dtype)
        out_var = _out(out_var, x.shape[1:], x.dtype)
        np.mean(x, axis=0, out=out_mean)
        np.copyto(out_var, np.mean(np.square(x - out_mean), axis=0))
        return out_mean, out_var

    def batchnorm_forward(self, x, gamma, beta, mean, var, epsilon, out=None, out_xhat=None):
        """``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` on a 2-D ``x`` (features
        last); ``gamma``/``beta`` may be None (no scale / no centre).

        Returns ``(y, xhat, inv_std)``: the normalized input and ``1/sqrt(var+eps)`` are
        what ``batchnorm_backward`` needs.
        """
        inv_std = 1.0 / np.sqrt(var + epsilon)
        inv_std = inv_std.astype(x.dtype, copy=False)
        xhat = _out(out_xhat, x.shape, x.dtype)
        np.subtract(x, mean, out=xhat)
        xhat *= inv_std
        out = _out(out, x.shape, x.dtype)
        if gamma is not None:
            np.multiply(xhat, gamma, out=out)
        else:
            np.copyto(out, xhat)
        if beta is not None:
            out += beta
        return out, xhat, inv_std

    def batchnorm_backward(
        self, dy, xhat, gamma, inv_std, batch_stats, need_dx=True,
        out_dx=None, out_dgamma=None, out_dbeta=None,
    ):
        """Gradients of ``batchnorm_forward``: ``(dx, dgamma, dbeta)``.

        With ``batch_stats`` the mean and variance were this batch's own, so they depend
        on ``x`` too: ``dx = gamma*inv_std/m * (m*dy - sum(dy) - xhat*sum(dy*xhat))``.
        Otherwise (moving statistics) they are constants and ``dx = gamma*inv_std*dy``.
        ``dx`` is None unless ``need_dx``.
        """
        m = dy.shape[0]
        dbeta = _out(out_dbeta, dy.shape[1:], dy.dtype)
        np.sum(dy, axis=0, out=dbeta)
        dgamma = _out(out_dgamma, dy.shape[1:], dy.dtype)
        np.sum(dy * xhat, axis=0, out=dgamma)
        dx = None
        if need_dx:
            scale = inv_std if gamma is None else gamma * inv_std
            dx = _out(out_dx, dy.shape, dy.dtype)
            if batch_stats:
                np.copyto(dx, (scale / m) * (m * dy - dbeta - xhat * dgamma))
            else:
                np.multiply(dy, scale, out=dx)
        return dx, dgamma, dbeta

    def moving_average_update(self, moving, value, momentum):
        """``moving = momentum * moving + (1 - momentum) * value``, in place."""
        moving *= momentum
        moving += (1.0 - momentum) * value
        return moving

    def embedding_forward(self, table, ids, out=None):
        """Rows of ``table`` gathered by the integer array ``ids`` (shape
        ``ids.shape + (table.shape[1],)``).  ``ids`` are trusted to be in range."""
        out = _out(out, ids.shape + table.shape[1:], table.dtype)
        np.take(table, ids, axis=0, out=out)
        return out

    def embedding_backward(self, ids, dy, input_dim, out=None):
        """The table's gradient: each row of ``dy`` scatter-added into row ``ids[i]``
        (repeated ids accumulate)."""
        d = dy.shape[-1]
        out = _out(out, (input_dim, d), dy.dtype)
        out.fill(0)
        np.add.at(out, ids.reshape(-1), dy.reshape(-1, d))
        return out

    def concatenate(self, xs, axis, out=None):
        """``xs`` joined along ``axis``."""
        if out is None:
            return np.concatenate(xs, axis=axis)
        np.concatenate(xs, axis=axis, out=out)
        return out

    def split(self, dy, sizes, axis, outs=None):
        """``concatenate``'s backward: ``dy`` cut along ``axis`` into pieces of ``sizes``,
        each a contiguous copy (written into ``outs[i]`` when given)."""
        pieces = []
        start = 0
        for i, size in enumerate(sizes):
            index = [slice(None)] * dy.ndim
            index[axis] = slice(start, start + size)
            part = dy[tuple(index)]
            out = None if outs is None else outs[i]
            out = _out(out, part.shape, dy.dtype)
            np.copyto(out, part)
            pieces.append(out)
            start += size
        return pieces

    def add_n(self, xs, out=None):
        """The element-wise sum of the arrays ``xs`` (all of one shape)."""
        out = _out(out, xs[0].shape, xs[0].dtype)
        np.copyto(out, xs[0])
        for x in xs[1:]:
            out += x
        return out


    # ------------------------------------------------------------------ convolution
    # Channels last (NHWC) throughout; the layers convert channels_first and 1-D inputs.
    # Geometry: strides (sh, sw), pads (top, bottom, left, right), dilation (dh, dw), and
    # OH = (H + top + bottom - dh*(KH-1) - 1) // sh + 1 (OW likewise); the contract both
    # backends keep is in docs/convolutions.md.  The convolution is im2col (a strided view of
    # the padded input, copied once into a patch matrix) times the kernel as one matmul;
    # its input gradient is col2im, which adds the patch gradients back one kernel
    # position at a time (KH*KW shifted slices, never a loop over pixels or images).

    @staticmethod
    def _pad_nhwc(x, pads, value=0.0):
        top, bottom, left, right = pads
        if not (top or bottom or left or right):
            return x
        return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)),
                      constant_values=value)

    @staticmethod
    def _windows(xp, window, strides, dilation=(1, 1)):
        """The strided view ``(N, OH, OW, C, KH, KW)`` of every window of a padded NHWC
        ``xp`` (no copy)."""
        (kh, kw), (sh, sw), (dh, dw) = window, strides, dilation
        span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        view = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(1, 2))
        return view[:, ::sh, ::sw, :, ::dh, ::dw]

    def _patches(self, x, window, strides, pads, dilation):
        """The im2col matrix ``(N*OH*OW, KH*KW*C)``, rows ordered like the kernel
        ``(KH, KW, C)`` so that it multiplies ``w.reshape(-1, F)``; and ``(N, OH, OW)``."""
        view = self._windows(self._pad_nhwc(x, pads), window, strides, dilation)
        n, oh, ow, c, kh, kw = view.shape
        cols = np.ascontiguousarray(view.transpose(0, 1, 2, 4, 5, 3))
        return cols.reshape(n * oh * ow, kh * kw * c), (n, oh, ow)

    @staticmethod
    def _scatter_windows(parts, x_shape, window, strides, pads, dilation=(1, 1)):
        """col2im: ``parts[i][j]`` (N, OH, OW, C), the gradient reaching kernel position
        ``(i, j)`` of every window, added into the input cells it came from (overlapping
        windows add up); returns the unpadded ``(N, H, W, C)`` sum."""
        n, h, w, c = x_shape
        top, bottom, left, right = pads
        (kh, kw), (sh, sw), (dh, dw) = window, strides, dilation
        dtype = parts[0][0].dtype
        dxp = np.zeros((n, h + top + bottom, w + left + right, c), dtype=dtype)
        oh, ow = parts[0][0].shape[1:3]
        for i in range(kh):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            for j in range(kw):
                cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
                dxp[:, rows, cols, :] += parts[i][j]
        return dxp[:, top:top + h, left:left + w, :]

    def conv2d_forward(self, x, w, b, strides, pads, dilation=(1, 1), activation="linear",
                       out=None, alpha=None):
        """``y = act(conv(x, w) + b)``: x (N, H, W, C), w (KH, KW, C, F) (Keras's kernel
        layout), b (F,) or None; y (N, OH, OW, F).  ``activation`` must not be in
        NEEDS_INPUT (the layer runs 'linear' then ``activation_forward`` for those)."""
        kh, kw, c, f = w.shape
        cols, (n, oh, ow) = self._patches(x, (kh, kw), strides, pads, dilation)
        y = _out(out, (n, oh, ow, f), x.dtype)
        self.dense_forward(cols, w.reshape(kh * kw * c, f), b, activation,
                           out=y.reshape(n * oh * ow, f), alpha=alpha)
        return y

    def conv2d_backward(self, x, w, y, dy, strides, pads, dilation=(1, 1),
                        activation="linear", has_bias=True, need_dx=True, out_dx=None,
                        out_dw=None, out_db=None, alpha=None):
        """Gradients of ``conv2d_forward``, as ``dense_backward`` on the im2col matrix:
        ``(dx, dw, db)`` with ``dx`` None unless ``need_dx`` and ``db`` None unless
        ``has_bias``.  The activation derivative is taken from ``y``; ``dy`` is not
        modified."""
        kh, kw, c, f = w.shape
        cols, (n, oh, ow) = self._patches(x, (kh, kw), strides, pads, dilation)
        dw = _out(out_dw, w.shape, w.dtype)
        dcols, _, db = self.dense_backward(
            cols, w.reshape(kh * kw * c, f), y.reshape(-1, f), dy.reshape(-1, f),
            activation, has_bias=has_bias, need_dx=need_dx,
            out_dw=dw.reshape(kh * kw * c, f), out_db=out_db, alpha=alpha)
        dx = None
        if need_dx:
            dcols = dcols.reshape(n, oh, ow, kh, kw, c)
            parts = [[dcols[:, :, :, i, j, :] for j in range(kw)] for i in range(kh)]
            grad = self._scatter_windows(parts, x.shape, (kh, kw), strides, pads, dilation)
            dx = _out(out_dx, x.shape, x.dtype)
            np.copyto(dx, grad)
        return dx, dw, db

    def _real_cells(self, x_shape, pool_size, strides, pads, dtype):
        """1 where a window cell lies inside the input, 0 on padding: ``(OH, OW, ph*pw)``."""
        inside = np.ones((1, x_shape[1], x_shape[2], 1), dtype=dtype)
        view = self._windows(self._pad_nhwc(inside, pads), pool_size, strides)
        return view[0, :, :, 0].reshape(view.shape[1], view.shape[2], -1)

    def pool2d_forward(self, x, pool_size, strides, pads, mode, out=None, out_index=None):
        """Max or average pooling (``mode`` "max" / "avg") of x (N, H, W, C).

        Returns ``(y, index)``: for "max", ``index`` (int32, y's shape) is the row-major
        position of the window's first maximum, padded cells never winning; for "avg"
        the mean over the window's real cells (TF/Keras's rule) and ``index`` None.
        """
        ph, pw = pool_size
        real = self._real_cells(x.shape, pool_size, strides, pads, x.dtype)
        fill = -np.inf if mode == "max" else 0.0
        view = self._windows(self._pad_nhwc(x, pads, fill), pool_size, strides)
        n, oh, ow, c = view.shape[:4]
        cells = view.reshape(n, oh, ow, c, ph * pw)
        y = _out(out, (n, oh, ow, c), x.dtype)
        if mode == "avg":
            np.divide(cells.sum(axis=-1), real.sum(axis=-1)[None, :, :, None], out=y)
            return y, None
        idx = cells.argmax(axis=-1)
        # A window whose real cells are all -inf must still name a real cell, not a pad.
        first_real = real.argmax(axis=-1)[None, :, :, None]
        idx = np.where(cells.max(axis=-1) == -np.inf, first_real, idx)
        index = _out(out_index, y.shape, np.int32)
        np.copyto(index, idx, casting="unsafe")
        np.copyto(y, np.take_along_axis(cells, idx[..., None], axis=-1)[..., 0])
        return y, index

    def pool2d_backward(self, dy, index, x_shape, pool_size, strides, pads, mode,
                        out=None):
        """Gradient of ``pool2d_forward``: "max" sends each ``dy`` to its window's argmax
        cell, "avg" spreads ``dy / count`` over the window's real cells."""
        ph, pw = pool_size
        if mode == "avg":
            real = self._real_cells(x_shape, pool_size, strides, pads, dy.dtype)
            share = dy / real.sum(axis=-1)[None, :, :, None]
            parts = [[share * real[None, :, :, i * pw + j, None] for j in range(pw)]
                     for i in range(ph)]
        else:
            parts = [[dy * (index == i * pw + j) for j in range(pw)] for i in range(ph)]
        grad = self._scatter_windows(parts, x_shape, pool_size, strides, pads)
        out = _out(out, x_shape, dy.dtype)
        np.copyto(out, grad)
        return out

# ---------------------------------------------------------------------- counter RNG
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z):
    """The SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * _MIX1
    z = z ^ (z >> np.uint64(27))
    z = z * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_key(seed, stream):
    """The 64-bit key of (seed, stream); the C kernel computes the same value."""
    with np.errstate(over="ignore"):
        s = _splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN)
        return _splitmix64(s ^ np.uint64(stream & 0xFFFFFFFFFFFFFFFF))


def counter_uniform(seed, stream, n):
    """``n`` uniforms in [0, 1): element i is a pure function of (seed, stream, i).

    24 random bits each, so the values are exact in float32 and float64 alike.
    """
    key = counter_key(seed, stream)
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = _splitmix64(key + i * _GOLDEN)
    return (z >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))
