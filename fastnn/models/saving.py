"""Saving and loading models: one zip file, no pickle, written atomically.

Layout of a ``.fastnn`` (any name works) file:

* ``metadata.json``: format name and version, fastnn version, backend-free facts, and,
  for backups written during ``fit`` (``BackupAndRestore``), the training state: the
  next epoch and the random generators' states.
* ``config.json``: the architecture (``get_config``) and the compile settings, naming
  classes only through fastnn's registries (never module paths or code).
* ``weights.npz``: the weights, as ``w000``, ``w001``, ... in ``model.weights`` order.
* ``optimizer.npz``: the optimizer state (present when the model was compiled).

The array members are stored uncompressed (float weights hardly compress), so a
member's declared size is its size on disk.

The file is written to a temporary file in the target directory, fsynced and moved into
place with ``os.replace`` (``fastnn.utils.files.atomic_write``), so a crash (even
SIGKILL) while saving leaves the previous file intact.

Loading trusts nothing in the file.  Before anything is allocated it checks the member
names (no duplicates, no paths), compression methods and ratios, the format version and
the JSON (size, depth, types).  The architecture is built under a byte limit taken from
the weights member's declared size, so a config asking for gigabytes of weights is
refused before any initializer runs.  Arrays are parsed here rather than by ``np.load``:
each ``.npy`` header is read first and its dtype (numbers only: never objects, which
would need pickle), shape and byte count are checked against the architecture and the
member's size before the data is read.  Every problem raises a ``ValueError`` that
starts with "<file> is not a valid fastnn model file".
"""

import ast
import io
import json
import math
import os
import re
import zipfile
import zlib

import numpy as np

from .. import __version__, losses, metrics, optimizers
# ``fastnn.models`` itself, not its classes: model.py reaches this module (Model.save)
# while it is being defined, so Model and Sequential are looked up when a file is read
# or written, not while this module loads.
from .. import models as _models
from ..layers.base import weight_byte_limit
from ..utils.files import atomic_write

FORMAT_NAME = "fastnn.model"
FORMAT_VERSION = 1
_MEMBERS = {"metadata.json", "config.json", "weights.npz", "optimizer.npz"}
_MAX_JSON_BYTES = 8 * 1024 * 1024  # a 4096-layer config is about 3 MB
# Slack over the exact array bytes for npz headers and zip records (each < 1 KiB).
_NPZ_SLACK_PER_ARRAY = 4096
# Largest uncompressed / compressed size accepted for a member.  fastnn stores arrays
# uncompressed and JSON compresses about 10:1; zip bombs rely on ratios of 1000:1.
_MAX_RATIO = 64
# Most layers a config may list (building is quadratic in Sequential).
_MAX_LAYERS = 4096
_NPY_KEY = re.compile(r"[A-Za-z0-9_]{1,64}(/[A-Za-z0-9_]{1,64})?")
_MAX_NPY_HEADER = 64 * 1024
_LOAD_ERRORS = (TypeError, KeyError, ValueError, AttributeError, IndexError,
                OverflowError, RecursionError, ZeroDivisionError)


# --------------------------------------------------------------------- writing
def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _compile_config(model):
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


def save_model(model, filepath, overwrite=True, training_state=None):
    """Write ``model`` to ``filepath`` (see the module docstring for the format).

    ``training_state`` (a JSON-ready dict) is stored in the metadata;
    ``Model.save_training_state`` keeps the epoch and the random generators' states
    there.
    """
    model._require_built("save")
    config = {
        "class_name": "Sequential" if isinstance(model, _models.Sequential) else "Model",
        "config": model.get_config(),
        "compile_config": _compile_config(model),
        # per-layer random streams (Dropout), so resumed training draws the same masks
        "rng_state": {layer.name: layer.get_rng_state() for layer in model.layers
                      if hasattr(layer, "get_rng_state")},
    }
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "fastnn_version": __version__}
    if training_state is not None:
        metadata["training_state"] = training_state
    weights = {f"w{i:03d}": w.value for i, w in enumerate(model.weights)}
    optimizer_state = None
    if model.compiled and model.optimizer is not None:
        optimizer_state = {k: np.asarray(v) for k, v in model.optimizer.get_state().items()}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", json.dumps(metadata, indent=2))
            zf.writestr("config.json", json.dumps(config, indent=2))
            # arrays uncompressed: declared size == stored size (see _MAX_RATIO)
            zf.writestr("weights.npz", _npz_bytes(weights), zipfile.ZIP_STORED)
            if optimizer_state is not None:
                zf.writestr("optimizer.npz", _npz_bytes(optimizer_state), zipfile.ZIP_STORED)

    atomic_write(filepath, write, overwrite)


def save_weights(model, filepath, overwrite=True):
    """Write only the weights, as a plain ``.npz`` (atomically)."""
    model._require_built("save_weights")
    arrays = {f"w{i:03d}": w.value for i, w in enumerate(model.weights)}
    atomic_write(filepath, lambda f: f.write(_npz_bytes(arrays)), overwrite)


# --------------------------------------------------------------------- reading
def _invalid(filepath, why):
    return ValueError(f"{filepath} is not a valid fastnn model file: {why}")


def _open_zip(filepath):
    """The archive, after checking its member list (names, duplicates, methods, sizes)."""
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No model file at {filepath}")
    try:
        zf = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as exc:
        raise _invalid(filepath, f"not a zip archive or truncated ({exc})") from None
    try:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        unexpected = sorted(set(names) - _MEMBERS)
        if unexpected:
            raise _invalid(filepath, f"unexpected members {[n[:80] for n in unexpected[:5]]}")
        if len(set(names)) != len(names):
            raise _invalid(filepath, "a member appears more than once")
        for required in ("metadata.json", "config.json", "weights.npz"):
            if required not in names:
                raise _invalid(filepath, f"missing {required}")
        for info in infos:
            if info.flag_bits & 0x1:
                raise _invalid(filepath, f"member {info.filename} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _invalid(filepath, f"member {info.filename} uses compression method "
                                         f"{info.compress_type}; only stored and deflated "
                                         f"members are read")
            if info.filename.endswith(".npz"):  # JSON members have a fixed cap instead
                _check_ratio(info, filepath)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_ratio(info, filepath):
    """Refuse members whose declared size is far beyond their compressed size (bombs)."""
    if info.file_size > _MAX_RATIO * max(info.compress_size, 1024):
        raise _invalid(filepath, f"member {info.filename} declares {info.file_size:,} bytes "
                                 f"from {info.compress_size:,} compressed (a ratio over "
                                 f"{_MAX_RATIO}: refused as a possible zip bomb)")


def _read_member(zf, name, max_bytes, filepath):
    """The member's bytes, refusing more than ``max_bytes`` (declared or real)."""
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise _invalid(filepath, f"member {name} declares {info.file_size:,} bytes, more "
                                 f"than the {max_bytes:,} this model can need")
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError) as exc:
        raise _invalid(filepath, f"member {name} is corrupt or truncated ({exc})") from None
    if len(data) != info.file_size:
        raise _invalid(filepath, f"member {name} holds {len(data):,} bytes but declares "
                                 f"{info.file_size:,}")
    return data


def _read_json(zf, name, filepath):
    data = _read_member(zf, name, _MAX_JSON_BYTES, filepath)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # JSONDecodeError is a ValueError; so is an integer with too many digits
        raise _invalid(filepath, f"{name} is not valid JSON ({str(exc)[:200]})") from None


def _read_npy_header(f, filepath, where):
    """(shape, fortran_order, dtype, header length) of a .npy stream, all checked.

    The header is a Python literal read with ``ast.literal_eval`` (no code runs); only
    plain numeric dtypes are accepted, never objects (which would need pickle)."""
    magic = f.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise _invalid(filepath, f"{where} is not a .npy array")
    size_len = 2 if magic[6] == 1 else 4
    raw = f.read(size_len)
    if len(raw) != size_len:
        raise _invalid(filepath, f"{where} is truncated")
    hlen = int.from_bytes(raw, "little")
    if hlen > _MAX_NPY_HEADER:
        raise _invalid(filepath, f"{where} has a {hlen:,}-byte header")
    header = f.read(hlen)
    if len(header) != hlen:
        raise _invalid(filepath, f"{where} is truncated")
    try:
        d = ast.literal_eval(header.decode("utf-8" if magic[6] == 3 else "latin1"))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError,
            UnicodeDecodeError):
        raise _invalid(filepath, f"{where} has an unreadable header") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise _invalid(filepath, f"{where} has an unexpected header")
    descr, fortran, shape = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str) or not isinstance(fortran, bool):
        raise _invalid(filepath, f"{where} has an unsupported dtype {str(descr)[:80]!r}")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise _invalid(filepath, f"{where} has an unknown dtype {descr[:80]!r}") from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
        raise _invalid(filepath, f"{where} has dtype {dtype} (only numbers are read; "
                                 f"objects would need pickle)")
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(
            type(n) is int and n >= 0 for n in shape):
        raise _invalid(filepath, f"{where} has an invalid shape {str(shape)[:80]}")
    return shape, fortran, dtype, 8 + size_len + hlen


def _read_npz(data, filepath, member, expected=None, max_bytes=None):
    """The arrays of an .npz held in ``data``, parsed without ``np.load``.

    Args:
        expected: ``{key: shape}`` the arrays must match exactly (all keys present), or
            None to accept any keys of the form ``name`` or ``index/name``.
        max_bytes: bound on the total array bytes (with ``expected``, their exact sum).
    """
    try:
        inner = zipfile.ZipFile(io.BytesIO(data))
        infos = inner.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as exc:
        raise _invalid(filepath, f"{member} is not a readable .npz ({exc})") from None
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _invalid(filepath, f"{member} holds an array twice")
    keys = [n[:-4] if n.endswith(".npy") else None for n in names]
    for name, key in zip(names, keys):
        if key is None or not _NPY_KEY.fullmatch(key):
            raise _invalid(filepath, f"{member} holds an unexpected member {name[:80]!r}")
    if expected is not None and set(keys) != set(expected):
        raise _invalid(filepath, f"{member} holds {len(keys)} arrays; the architecture "
                                 f"has {len(expected)} weights")
    budget = len(data) if max_bytes is None else max_bytes
    arrays = {}
    for info, key in zip(infos, keys):
        where = f"{member}:{key}"
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                               zipfile.ZIP_DEFLATED):
            raise _invalid(filepath, f"{where} is encrypted or uses an unknown compression")
        _check_ratio(info, filepath)
        try:
            with inner.open(info) as f:
                shape, fortran, dtype, header_len = _read_npy_header(f, filepath, where)
                if expected is not None and shape != tuple(expected[key]):
                    raise _invalid(filepath, f"weight {key} has shape {shape}; the "
                                             f"architecture needs {tuple(expected[key])}")
                count = math.prod(shape)
                nbytes = count * dtype.itemsize
                if nbytes > budget:
                    raise _invalid(filepath, f"{where} declares {nbytes:,} bytes of data, "
                                             f"more than the {budget:,} left for it")
                if header_len + nbytes != info.file_size:
                    raise _invalid(filepath, f"{where}: its shape {shape} needs {nbytes:,} "
                                             f"bytes of data; the member holds "
                                             f"{info.file_size - header_len:,}")
                budget -= nbytes
                flat = np.empty(count, dtype=dtype)
                view = memoryview(flat).cast("B") if nbytes else b""
                got = f.readinto(view) if nbytes else 0
                if got != nbytes or f.read(1):
                    raise _invalid(filepath, f"{where} is truncated")
        except ValueError:
            raise
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
                NotImplementedError) as exc:
            raise _invalid(filepath, f"{where} is corrupt or truncated ({exc})") from None
        arrays[key] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays


def _check_metadata(meta, filepath):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _invalid(filepath, "metadata.json does not name the fastnn model format")
    version = meta.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise _invalid(filepath, f"format_version {str(version)[:40]!r} is not supported "
                                 f"(this fastnn reads version {FORMAT_VERSION})")
    state = meta.get("training_state")
    if state is not None and not isinstance(state, dict):
        raise _invalid(filepath, "training_state must be a dict")
    return meta


def _check_weight_values(model, arrays, filepath):
    for i, var in enumerate(model.weights):
        value = arrays[f"w{i:03d}"]
        if value.dtype.kind != "f":
            raise _invalid(filepath, f"weight {var.name} has dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise _invalid(filepath, f"weight {var.name} holds NaN or inf")


def _assign_weights(model, arrays, filepath):
    weights = model.weights
    expected = {f"w{i:03d}" for i in range(len(weights))}
    if set(arrays) != expected:
        raise _invalid(filepath, f"weights.npz holds {len(arrays)} arrays; the architecture "
                                 f"has {len(weights)} weights")
    for i, var in enumerate(weights):
        if arrays[f"w{i:03d}"].shape != var.shape:
            raise _invalid(filepath, f"weight {var.name} has shape "
                                     f"{arrays[f'w{i:03d}'].shape}; the architecture "
                                     f"needs {var.shape}")
    _check_weight_values(model, arrays, filepath)
    for i, var in enumerate(weights):
        var.assign(arrays[f"w{i:03d}"])


def _read_weights(zf, model, filepath):
    """weights.npz, checked against ``model``'s weights (shapes) before it is read."""
    budget = _weights_budget(model)
    data = _read_member(zf, "weights.npz", budget, filepath)
    expected = {f"w{i:03d}": w.shape for i, w in enumerate(model.weights)}
    return _read_npz(data, filepath, "weights.npz", expected, budget)


def _restore_rng_state(model, states, filepath):
    if not isinstance(states, dict):
        raise _invalid(filepath, "rng_state must be a dict")
    for name, state in states.items():
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise _invalid(filepath, f"rng_state names an unknown layer {name[:80]!r}") from None
        if not hasattr(layer, "set_rng_state"):
            raise _invalid(filepath, f"layer {name!r} has no random state")
        try:
            layer.set_rng_state(state)
        except (TypeError, ValueError) as exc:
            raise _invalid(filepath, f"bad rng_state for {name!r} ({exc})") from None


def _weights_budget(model):
    n = len(model.weights)
    return sum(w.value.nbytes for w in model.weights) + _NPZ_SLACK_PER_ARRAY * (n + 1)


def _count_layers(config):
    layers = config.get("layers") if isinstance(config, dict) else None
    return len(layers) if isinstance(layers, list) else 0


def _build_architecture(spec, weights_bytes, filepath):
    """The model of ``spec`` (config.json), built under a byte limit: ``weights_bytes``
    (the weights member's declared size) bounds the weights the config may create."""
    if not isinstance(spec, dict) or spec.get("class_name") not in ("Sequential", "Model"):
        raise _invalid(filepath, "config.json names no Sequential or Model")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise _invalid(filepath, "the architecture config must be a dict")
    if _count_layers(config) > _MAX_LAYERS:
        raise _invalid(filepath, f"the architecture lists {_count_layers(config):,} layers "
                                 f"(at most {_MAX_LAYERS} are read)")
    cls = _models.Sequential if spec["class_name"] == "Sequential" else _models.Model
    try:
        with weight_byte_limit(weights_bytes, f"{filepath} is not a valid fastnn model file"):
            model = cls.from_config(config)
    except _LOAD_ERRORS as exc:
        if str(exc).startswith(f"{filepath} is not a valid"):
            raise ValueError(str(exc)) from None
        raise _invalid(filepath, f"bad architecture config ({type(exc).__name__}: "
                                 f"{str(exc)[:300]})") from None
    if not model.built:
        raise _invalid(filepath, "the architecture has no input shape")
    return model


def _restore_compile(model, zf, compile_config, filepath):
    if not isinstance(compile_config, dict):
        raise _invalid(filepath, "compile_config must be a dict")
    try:
        optimizer = optimizers.deserialize(compile_config["optimizer"])
        loss = compile_config["loss"]
        if isinstance(loss, dict) and "class_name" in loss:
            loss = losses.deserialize(loss)
        model.compile(optimizer=optimizer, loss=loss, metrics=compile_config.get("metrics"),
                      loss_weights=compile_config.get("loss_weights"))
    except _LOAD_ERRORS as exc:
        raise _invalid(filepath, f"bad compile config ({type(exc).__name__}: "
                                 f"{str(exc)[:300]})") from None
    if "optimizer.npz" in zf.namelist():
        _restore_optimizer(model, zf, filepath)


def _restore_optimizer(model, zf, filepath):
    budget = 3 * _weights_budget(model) + 2**20
    state = _read_npz(_read_member(zf, "optimizer.npz", budget, filepath), filepath,
                      "optimizer.npz", max_bytes=budget)
    # An optimizer saved before its first step has no slots yet: restore its counters
    # and let it build its slots on the first step (passing the variables would build
    # it now and then demand the slots).
    has_slots = any(k not in ("iterations", "learning_rate") for k in state)
    try:
        model.optimizer.set_state(state, model.trainable_weights if has_slots else None)
    except _LOAD_ERRORS as exc:
        raise _invalid(filepath, f"optimizer state does not fit ({str(exc)[:300]})") from None


def load_model(filepath, compile=True):
    """Load a model saved by ``model.save``.

    Args:
        filepath: path of the saved file.
        compile: restore the compile settings and optimizer state too.

    Raises:
        FileNotFoundError: there is no file at ``filepath``.
        ValueError: the file is not a fastnn model, is truncated or corrupt, is too
            large for what it declares, or does not match its own architecture.
    """
    with _open_zip(filepath) as zf:
        _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
        spec = _read_json(zf, "config.json", filepath)
        declared = zf.getinfo("weights.npz").file_size
        model = _build_architecture(spec, declared, filepath)
        _assign_weights(model, _read_weights(zf, model, filepath), filepath)
        _restore_rng_state(model, spec.get("rng_state") or {}, filepath)
        compile_config = spec.get("compile_config")
        if compile and compile_config:
            _restore_compile(model, zf, compile_config, filepath)
    return model


def restore_training_state(model, filepath):
    """Load a backup written during ``fit`` into ``model`` itself: weights, optimizer
    state and per-layer random state; returns the file's ``training_state`` dict.

    ``model`` must have the architecture the file was written from (its weights are
    the reference for every shape); used by ``Model.load_training_state``.
    """
    model._require_built("restore a backup into")
    with _open_zip(filepath) as zf:
        meta = _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
        state = meta.get("training_state")
        if not isinstance(state, dict):
            raise _invalid(filepath, "it holds no training state (not a fit backup)")
        _check_training_state(state, filepath)
        arrays = _read_weights(zf, model, filepath)
        _check_weight_values(model, arrays, filepath)
        layer_states = state.get("layer_rng_states")
        layers = model.layers
        if not isinstance(layer_states, list) or len(layer_states) != len(layers):
            raise _invalid(filepath, "layer_rng_states does not match the model's layers")
        for layer, st in zip(layers, layer_states):
            if (st is None) != (not hasattr(layer, "set_rng_state")):
                raise _invalid(filepath, f"random state of layer {layer.name!r} does not "
                                         f"match the model")
        if model.compiled and model.optimizer is not None and "optimizer.npz" in zf.namelist():
            _restore_optimizer(model, zf, filepath)
        for i, var in enumerate(model.weights):
            var.assign(arrays[f"w{i:03d}"])
        for layer, st in zip(layers, layer_states):
            if st is not None:
                try:
                    layer.set_rng_state(st)
                except (TypeError, ValueError) as exc:
                    raise _invalid(filepath, f"bad random state for {layer.name!r} "
                                             f"({exc})") from None
    return state


def _check_training_state(state, filepath):
    epoch = state.get("epoch")
    if type(epoch) is not int or not 0 <= epoch < 2**31:
        raise _invalid(filepath, f"training_state epoch {str(epoch)[:40]} is not an epoch")
    for key in ("fit_rng", "global_rng"):
        st = state.get(key)
        if st is None and key == "fit_rng":
            continue
        try:  # set on a scratch generator: only a valid state passes
            np.random.default_rng().bit_generator.state = st
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
            raise _invalid(filepath, f"training_state {key} is not a generator state") from None


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` into ``model``, checking every shape."""
    model._require_built("load_weights")
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}")
    budget = _weights_budget(model)
    if os.path.getsize(filepath) > budget:
        raise _invalid(filepath, "the file is larger than this model's weights")
    with open(filepath, "rb") as f:
        data = f.read(budget + 1)
    expected = {f"w{i:03d}": w.shape for i, w in enumerate(model.weights)}
    _assign_weights(model, _read_npz(data, filepath, "weights", expected, budget), filepath)
