"""Saving and loading models: one zip file, no pickle, written atomically.

Layout of a ``.fastnn`` (any name works) file:

* ``metadata.json``: format name and version, fastnn version, backend-free facts.
* ``config.json``: the architecture (``get_config``) and the compile settings, naming
  classes only through fastnn's registries (never module paths or code).
* ``weights.npz``: the weights, as ``w000``, ``w001``, ... in ``model.weights`` order.
* ``optimizer.npz``: the optimizer state (present when the model was compiled).

The file is written to a temporary file in the target directory and moved into place with
``os.replace``, so a crash while saving leaves the previous file intact.  Loading checks
member names, sizes, dtypes and shapes before anything is used, and reads arrays with
``allow_pickle=False``.
"""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_NAME = "fastnn.model"
FORMAT_VERSION = 1
_MEMBERS = {"metadata.json", "config.json", "weights.npz", "optimizer.npz"}
_MAX_JSON_BYTES = 16 * 1024 * 1024
# Slack over the exact array bytes for npz headers (each array's header is < 1 KiB).
_NPZ_SLACK_PER_ARRAY = 4096


# --------------------------------------------------------------------- writing
def _atomic_write(filepath, write_fn, overwrite):
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {filepath}: directory {directory} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    # make the rename itself durable
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _compile_config(model):
    from .. import losses, metrics, optimizers

    if not model.compiled:
        return None
    args = model._compile_args

    def ser_loss(spec):
        if isinstance(spec, str):
            return spec
        if isinstance(spec, (list, tuple)):
            return [ser_loss(s) for s in spec]
        if isinstance(spec, dict):
            return {k: ser_loss(v) for k, v in spec.items()}
        return losses.serialize(losses.get(spec))

    def ser_metric(spec):
        if spec is None or isinstance(spec, str):
            return spec
        if isinstance(spec, (list, tuple)):
            return [ser_metric(s) for s in spec]
        if isinstance(spec, dict):
            return {k: ser_metric(v) for k, v in spec.items()}
        return metrics.serialize(spec)

    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": ser_loss(args["loss"]),
        "metrics": ser_metric(args["metrics"]),
        "loss_weights": args["loss_weights"],
    }


def save_model(model, filepath, overwrite=True):
    """Write ``model`` to ``filepath`` (see the module docstring for the format)."""
    from .. import __version__
    from .sequential import Sequential

    model._require_built("save")
    config = {
        "class_name": "Sequential" if isinstance(model, Sequential) else "Model",
        "config": model.get_config(),
        "compile_config": _compile_config(model),
        # per-layer random streams (Dropout), so resumed training draws the same masks
        "rng_state": {layer.name: layer.get_rng_state() for layer in model.layers
                      if hasattr(layer, "get_rng_state")},
    }
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "fastnn_version": __version__}
    weights = {f"w{i:03d}": w.value for i, w in enumerate(model.weights)}
    optimizer_state = None
    if model.compiled and model.optimizer is not None:
        optimizer_state = {k: np.asarray(v) for k, v in model.optimizer.get_state().items()}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", json.dumps(metadata, indent=2))
            zf.writestr("config.json", json.dumps(config, indent=2))
            zf.writestr("weights.npz", _npz_bytes(weights))
            if optimizer_state is not None:
                zf.writestr("optimizer.npz", _npz_bytes(optimizer_state))

    _atomic_write(filepath, write, overwrite)


def save_weights(model, filepath, overwrite=True):
    """Write only the weights, as a plain ``.npz`` (atomically)."""
    model._require_built("save_weights")
    arrays = {f"w{i:03d}": w.value for i, w in enumerate(model.weights)}
    _atomic_write(filepath, lambda f: f.write(_npz_bytes(arrays)), overwrite)


# --------------------------------------------------------------------- reading
def _invalid(filepath, why):
    return ValueError(f"{filepath} is not a valid fastnn model file: {why}")


def _read_member(zf, name, max_bytes, filepath):
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise _invalid(filepath, f"member {name} declares {info.file_size} bytes, more than "
                                 f"the {max_bytes} this model can need")
    with zf.open(info) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _invalid(filepath, f"member {name} is larger than declared")
    return data


def _read_json(zf, name, filepath):
    try:
        return json.loads(_read_member(zf, name, _MAX_JSON_BYTES, filepath).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(filepath, f"{name} is not valid JSON ({exc})") from None


def _read_arrays(data, filepath, name):
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:  # object arrays need pickle: refused
        raise _invalid(filepath, f"{name} holds data that needs pickle ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _invalid(filepath, f"{name} is unreadable ({exc})") from None


def _open_zip(filepath):
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No model file at {filepath}")
    try:
        zf = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, OSError) as exc:
        raise _invalid(filepath, f"not a zip archive or truncated ({exc})") from None
    names = set(zf.namelist())
    unexpected = sorted(names - _MEMBERS)
    if unexpected:
        zf.close()
        raise _invalid(filepath, f"unexpected members {unexpected[:5]}")
    for required in ("metadata.json", "config.json", "weights.npz"):
        if required not in names:
            zf.close()
            raise _invalid(filepath, f"missing {required}")
    return zf


def _check_metadata(meta, filepath):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _invalid(filepath, "metadata.json does not name the fastnn model format")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise _invalid(filepath, f"format_version {version!r} is not supported (this fastnn "
                                 f"reads version {FORMAT_VERSION})")


def _assign_weights(model, arrays, filepath):
    weights = model.weights
    expected = {f"w{i:03d}" for i in range(len(weights))}
    if set(arrays) != expected:
        raise _invalid(filepath, f"weights.npz holds {len(arrays)} arrays; the architecture "
                                 f"has {len(weights)} weights")
    for i, var in enumerate(weights):
        value = arrays[f"w{i:03d}"]
        if value.shape != var.shape:
            raise _invalid(filepath, f"weight {var.name} has shape {value.shape}; the "
                                     f"architecture needs {var.shape}")
        if value.dtype.kind != "f":
            raise _invalid(filepath, f"weight {var.name} has dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise _invalid(filepath, f"weight {var.name} holds NaN or inf")
    for i, var in enumerate(weights):
        var.assign(arrays[f"w{i:03d}"])


def _restore_rng_state(model, states, filepath):
    if not isinstance(states, dict):
        raise _invalid(filepath, "rng_state must be a dict")
    for name, state in states.items():
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise _invalid(filepath, f"rng_state names an unknown layer {name!r}") from None
        if not hasattr(layer, "set_rng_state"):
            raise _invalid(filepath, f"layer {name!r} has no random state")
        try:
            layer.set_rng_state(state)
        except (TypeError, ValueError) as exc:
            raise _invalid(filepath, f"bad rng_state for {name!r} ({exc})") from None


def _weights_budget(model):
    n = len(model.weights)
    return sum(w.value.nbytes for w in model.weights) + _NPZ_SLACK_PER_ARRAY * (n + 1)


def load_model(filepath, compile=True):
    """Load a model saved by ``model.save``.

    Args:
        filepath: path of the saved file.
        compile: restore the compile settings and optimizer state too.

    Raises:
        ValueError: the file is not a fastnn model, is truncated, or does not match
            its own architecture.
    """
    from .. import losses, optimizers
    from .model import Model
    from .sequential import Sequential

    with _open_zip(filepath) as zf:
        _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
        spec = _read_json(zf, "config.json", filepath)
        if not isinstance(spec, dict) or spec.get("class_name") not in ("Sequential", "Model"):
            raise _invalid(filepath, "config.json names no Sequential or Model")
        cls = Sequential if spec["class_name"] == "Sequential" else Model
        try:
            model = cls.from_config(spec.get("config"))
        except (TypeError, KeyError) as exc:
            raise _invalid(filepath, f"bad architecture config ({exc})") from None
        if not model.built:
            raise _invalid(filepath, "the architecture has no input shape")
        data = _read_member(zf, "weights.npz", _weights_budget(model), filepath)
        _assign_weights(model, _read_arrays(data, filepath, "weights.npz"), filepath)
        _restore_rng_state(model, spec.get("rng_state") or {}, filepath)

        compile_config = spec.get("compile_config")
        if compile and compile_config:
            optimizer = optimizers.deserialize(compile_config["optimizer"])
            loss = compile_config["loss"]
            if isinstance(loss, dict) and "class_name" in loss:
                loss = losses.deserialize(loss)
            model.compile(optimizer=optimizer, loss=loss, metrics=compile_config.get("metrics"),
                          loss_weights=compile_config.get("loss_weights"))
            if "optimizer.npz" in zf.namelist():
                budget = 3 * _weights_budget(model) + 2**20
                state = _read_arrays(_read_member(zf, "optimizer.npz", budget, filepath),
                                     filepath, "optimizer.npz")
                try:
                    model.optimizer.set_state(state, model.trainable_weights)
                except ValueError as exc:
                    raise _invalid(filepath, f"optimizer state does not fit ({exc})") from None
    return model


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` into ``model``, checking every shape."""
    model._require_built("load_weights")
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}")
    size = os.path.getsize(filepath)
    if size > _weights_budget(model) * 2:
        raise _invalid(filepath, "the file is far larger than this model's weights")
    with open(filepath, "rb") as f:
        data = f.read()
    _assign_weights(model, _read_arrays(data, filepath, "weights"), filepath)
