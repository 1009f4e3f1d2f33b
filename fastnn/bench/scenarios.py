"""What each benchmark measures: the models, their sizes and data, and the GEMM shapes.

A *scenario* is a plain dict describing one model trained (or predicting) at one batch
size on synthetic data, with its matrix-product FLOPs per sample; every contender in
``fastnn.bench.contenders`` builds its own version of the same model from it.  The
seeds' models (``seed_models``) are the ones ``fastnn bench`` and ``benchmarks/`` use.
"""

import numpy as np

_HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def mlp_scenario(layers, hidden_activation="relu", output="softmax", batch_size=128,
                 n_samples=8192, learning_rate=1e-3, name=None):
    """Describe one MLP training benchmark as a plain dict.

    Args:
        layers: Units per layer, input first, e.g. ``[784, 500, 500, 10]``.
        hidden_activation: One of ``relu``, ``tanh``, ``sigmoid``, ``linear``.
        output: ``"softmax"`` (sparse categorical cross-entropy, ``layers[-1]`` classes)
            or ``"sigmoid"`` (binary cross-entropy, ``layers[-1]`` must be 1).
        batch_size: Samples per gradient step.
        n_samples: Samples in one timed run (one epoch over the synthetic data).
        learning_rate: Adam's learning rate.
        name: A label for tables; defaults to ``"784-500-500-10 relu b128"`` style.

    Returns:
        A dict with the keys above plus ``name`` and ``flops_per_sample``.

    Raises:
        ValueError: For an unknown activation or output, or inconsistent sizes.
    """
    layers = [int(u) for u in layers]
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"Expected at least two positive layer sizes. Received: layers={layers}")
    if hidden_activation not in _HIDDEN_ACTIVATIONS:
        raise ValueError(f"hidden_activation must be one of {_HIDDEN_ACTIVATIONS}. "
                         f"Received: {hidden_activation!r}")
    if output not in ("softmax", "sigmoid"):
        raise ValueError(f"output must be 'softmax' or 'sigmoid'. Received: {output!r}")
    if output == "softmax" and layers[-1] < 2:
        raise ValueError("A softmax output needs at least 2 classes.")
    if output == "sigmoid" and layers[-1] != 1:
        raise ValueError("A sigmoid output (binary cross-entropy) needs exactly 1 unit.")
    if batch_size < 1 or n_samples < 1:
        raise ValueError("batch_size and n_samples must be >= 1.")
    if name is None:
        name = f"{'-'.join(map(str, layers))} {hidden_activation} b{batch_size}"
    return {
        "name": name,
        "model": "mlp",
        "layers": layers,
        "hidden_activation": hidden_activation,
        "output": output,
        "loss": "sparse_categorical_crossentropy" if output == "softmax" else "binary_crossentropy",
        "optimizer": "adam",
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "dtype": "float32",
        "flops_per_sample": mlp_training_flops(layers),
        "forward_flops_per_sample": forward_flops(layers),
    }


def mlp_training_flops(layers):
    """Floating-point operations of the matrix products for one training sample.

    Counts a multiply-add as 2 flops.  A Dense layer ``fan_in -> units`` costs
    ``2 * fan_in * units`` for each of its three products: the forward ``x @ w``, the
    weight gradient ``x.T @ dz`` and the input gradient ``dz @ w.T``.  The first layer's
    input gradient is never computed (nothing upstream needs it), so it is left out.
    Bias, activations, the loss and the optimizer are element-wise and left out too:
    they are memory-bound and small next to the products for the nets measured here.

    For 784-500-500-10: forward 1.294 MFLOP, weight gradients 1.294, input gradients of
    layers 2 and 3 0.510, total 3.098 MFLOP, i.e.
    ``2*(784*500 + 500*500 + 500*10)*3 - 2*784*500``.

    Args:
        layers: Units per layer, input first.

    Returns:
        The flop count as an int.
    """
    products = [2 * a * b for a, b in zip(layers[:-1], layers[1:])]
    forward = sum(products)
    weight_grads = sum(products)
    input_grads = sum(products[1:])  # layer 1's dx is skipped: the input needs no gradient
    return int(forward + weight_grads + input_grads)


def forward_flops(layers):
    """Floating-point operations of the forward matrix products for one sample.

    What one inference costs: ``2 * fan_in * units`` per Dense layer (multiply-add = 2).

    Args:
        layers: Units per layer, input first.

    Returns:
        The flop count as an int.
    """
    return int(sum(2 * a * b for a, b in zip(layers[:-1], layers[1:])))


def wide_deep_scenario(input_dim=100, deep_units=(100, 32, 8), batch_size=32, n_samples=8192,
                       learning_rate=1e-3, optimizer="rmsprop", name=None):
    """Describe a training benchmark of the seeds' Wide&Deep model as a plain dict.

    The model of seed 000, written with fastnn's functional API: two ``Input`` s of
    ``input_dim`` features fed the same data (the seed calls ``fit([X, X], y)``), a wide
    ``Dense(1)`` on one, a deep tower ``Dense(100, relu) -> Dense(32, relu) -> Dense(8)``
    on the other, ``Concatenate`` and a ``Dense(1, sigmoid)`` head trained with binary
    cross-entropy and RMSprop.  ``input_dim=100`` stands for the one-hot encoded census
    features the seed trains on (about a hundred columns).

    Args:
        input_dim: Features of each input.
        deep_units: Units of the deep tower; relu on all but the last, as in the seed.
        batch_size: Samples per gradient step.
        n_samples: Samples in one timed run.
        learning_rate: The optimizer's learning rate.
        optimizer: ``"rmsprop"`` (the seed's) or ``"adam"``.
        name: A label for tables; defaults to ``"wide&deep 100 b32"`` style.

    Returns:
        The same keys as ``mlp_scenario`` with ``model="wide_deep"``, ``layers`` the
        deep tower (input first) and ``wide_units``.

    Raises:
        ValueError: For non-positive sizes or an unknown optimizer.
    """
    tower = [int(input_dim)] + [int(u) for u in deep_units]
    if len(tower) < 2 or min(tower) < 1 or batch_size < 1 or n_samples < 1:
        raise ValueError("input_dim, deep_units, batch_size and n_samples must be positive. "
                         f"Received: input_dim={input_dim}, deep_units={deep_units}")
    if optimizer not in ("rmsprop", "adam"):
        raise ValueError(f"optimizer must be 'rmsprop' or 'adam'. Received: {optimizer!r}")
    wide_units = 1
    merged = wide_units + tower[-1]
    # Wide and first deep layer read the inputs (no input gradient); every later layer
    # needs all three products, including the head on the concatenation.
    training = (2 * 2 * input_dim * wide_units + mlp_training_flops(tower)
                + 3 * 2 * merged)
    return {
        "name": name or f"wide&deep {input_dim} b{batch_size}",
        "model": "wide_deep",
        "layers": tower,
        "wide_units": wide_units,
        "hidden_activation": "relu",
        "output": "sigmoid",
        "loss": "binary_crossentropy",
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "dtype": "float32",
        "flops_per_sample": int(training),
        "forward_flops_per_sample": int(2 * input_dim * wide_units + forward_flops(tower)
                                        + 2 * merged),
    }


def model_inputs(scenario, x):
    """What the model is called on: the seed feeds Wide&Deep the same array twice."""
    return [x, x] if scenario.get("model") == "wide_deep" else x


def synthetic_data(scenario, seed):
    """Random-normal inputs and random labels: enough to time training, cheap to make."""
    rng = np.random.default_rng(seed)
    n, d = scenario["n_samples"], scenario["layers"][0]
    x = rng.standard_normal((n, d), dtype=np.float32)
    if scenario["output"] == "softmax":
        y = rng.integers(0, scenario["layers"][-1], size=n).astype(np.int64)
    else:
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    return x, y


def inference_scenario(scenario, batch_size, n_samples=None):
    """The inference counterpart of a training scenario: same model, new batch size.

    Args:
        scenario: A dict from ``mlp_scenario`` or ``wide_deep_scenario``.
        batch_size: Samples per call (a request of that many samples).
        n_samples: Samples in one timed run; defaults to the scenario's.

    Returns:
        A copy with ``task="inference"``, the new ``batch_size`` and ``n_samples``, and a
        name such as ``"784-500-500-10 relu infer b1"``.
    """
    base = scenario["name"].rsplit(" b", 1)[0]
    return dict(scenario, task="inference", batch_size=int(batch_size),
                n_samples=int(n_samples or scenario["n_samples"]),
                name=f"{base} infer b{int(batch_size)}")


def seed_models():
    """The seeds' models, as scenario templates (batch size and samples set per run).

    Returns:
        A list of ``(key, label, scenario)``: the 784-500-500-10 relu MLP with Adam
        (the issue's reference), seed 001's 10-500-500-10 sigmoid MLP, seed 000's
        Wide&Deep model and the 100-32-8-1 tabular net.
    """
    return [
        ("mlp784", "784-500-500-10 relu",
         mlp_scenario([784, 500, 500, 10], "relu", "softmax")),
        ("seed001", "10-500-500-10 sigmoid",
         mlp_scenario([10, 500, 500, 10], "sigmoid", "softmax")),
        ("wide_deep", "wide&deep 2x100",
         wide_deep_scenario(input_dim=100)),
        ("tabular", "tabular 100-32-8-1",
         mlp_scenario([100, 32, 8, 1], "relu", "sigmoid")),
    ]


def sized_scenario(template, label, key, batch_size, n_samples):
    """A seed model's template at one batch size and sample count, named for tables.

    Args:
        template, label, key: One entry of ``seed_models``.
        batch_size: Samples per step.
        n_samples: Samples in one timed run.

    Returns:
        A copy of ``template`` named ``"<label> b<batch_size>"``, with ``label`` and ``key``.
    """
    return dict(template, name=f"{label} b{batch_size}", label=label, key=key,
                batch_size=batch_size, n_samples=n_samples)


# --------------------------------------------------------------------------- gemm
#: The seeds' MLP, whose Dense layers give the "MLP shapes" of the GEMM benchmark.
SEED_MLP = (784, 500, 500, 10)


def gemm_shapes(squares=(512, 1024, 2048), layers=SEED_MLP, batch_sizes=(32, 128, 256)):
    """The products benchmarked: squares, and the three products of each Dense layer.

    A Dense layer ``fan_in -> units`` at batch ``b`` runs the forward ``x @ w``
    (b x units x fan_in), the weight gradient ``x.T @ dz`` (fan_in x units x b) and the
    input gradient ``dz @ w.T`` (b x fan_in x units); the transposes are taken by
    strides, as the layers do.

    Args:
        squares: Sides of square products.
        layers: Units per layer of the MLP, input first.
        batch_sizes: Batch sizes of the MLP products.

    Returns:
        A list of dicts with ``name``, ``m``, ``n``, ``k``, ``transpose_a``,
        ``transpose_b``.
    """
    def shape(name, m, n, k, ta=False, tb=False):
        return {"name": name, "m": m, "n": n, "k": k, "transpose_a": ta, "transpose_b": tb}

    shapes = [shape(f"square {s}", s, s, s) for s in squares]
    for b in batch_sizes:
        for fan_in, units in zip(layers[:-1], layers[1:]):
            tag = f"b{b} {fan_in}x{units}"
            shapes.append(shape(f"{tag} x@w", b, units, fan_in))
            shapes.append(shape(f"{tag} x.T@dz", fan_in, units, b, ta=True))
            shapes.append(shape(f"{tag} dz@w.T", b, fan_in, units, tb=True))
    return shapes
