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
starts with "<file> is not a valid fastnn model file", except for files that are valid
but not for this call, which say what they are and what to do: a file from a newer
fastnn, a Keras file, a weights file given to ``load_model`` (or a model file given to
``load_weights``), weights from another architecture, and a file naming a custom
layer, loss or metric this session does not know (see ``load_model``'s
``custom_objects``).

A file that saves loads: weights that went NaN or inf (a diverged run) are written as
they are and loaded with a ``RuntimeWarning`` naming them, by every reader alike
(``load_model``, ``load_weights``, ``BackupAndRestore``), so that a diverged run can be
inspected.  Models pickle and deep-copy through the same format, written in memory
(``model_to_bytes`` / ``model_from_bytes``): no code and no lock is ever pickled.
"""

import ast
import contextlib
import io
import json
import math
import os
import re
import warnings
import zipfile
import zlib

import numpy as np

from .. import __version__, losses, metrics, optimizers
from .. import layers as _layers
# ``fastnn.models`` itself, not its classes: model.py reaches this module (Model.save)
# while it is being defined, so Model and Sequential are looked up when a file is read
# or written, not while this module loads.
from .. import models as _models
from ..layers.base import weight_byte_limit
from ..utils.files import atomic_write, user_path
# The extensions fastnn refuses to write (.h5, .keras, ...) are checked in utils, where
# ModelCheckpoint (which must not import the models) checks them too.
from ..utils.model_files import MODEL_EXTENSION, WEIGHTS_EXTENSION, check_extension  # noqa: F401
from ..utils.naming import did_you_mean
from ..utils.validation import ArgumentTypeError, check_bool, refuse_argument

FORMAT_NAME = "fastnn.model"
JSON_FORMAT_NAME = "fastnn.architecture"  # what model.to_json() writes
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
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Name used in messages for a model read from memory (unpickling, deep copies).
_IN_MEMORY = "<in-memory model>"


# --------------------------------------------------------------------- writing
def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _serialize_loss(spec):
    if isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_serialize_loss(s) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:  # one loss per output
        return {k: _serialize_loss(v) for k, v in spec.items()}
    return losses.serialize(losses.get(spec))


def _serialize_metric(spec):
    """A ``compile(metrics=...)`` entry as JSON data.  A metric function is saved by
    name (its registered name, or its ``__name__``), never as code: loading finds it
    again through ``custom_objects``, ``fastnn.metrics.register`` or fastnn's own."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_serialize_metric(s) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:  # metrics per output
        return {k: _serialize_metric(v) for k, v in spec.items()}
    metric = metrics.get(spec)
    if type(metric) is metrics.MeanMetricWrapper:
        return {"class_name": "MeanMetricWrapper",
                "function": metrics.function_name(metric._fn),
                "config": metric.get_config()}
    return metrics.serialize(metric)


def _compile_config(model):
    if not model.compiled:
        return None
    args = model._compile_args
    config = {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize_loss(args["loss"]),
        "metrics": _serialize_metric(args["metrics"]),
        "loss_weights": args["loss_weights"],
    }
    if args.get("weighted_metrics") is not None:  # Keras' second list, when compiled with it
        config["weighted_metrics"] = _serialize_metric(args["weighted_metrics"])
    return config


def _write_model(model, f, training_state=None):
    """Write ``model`` as a model file into the binary file object ``f``."""
    config = {
        "class_name": _class_name(model),
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
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata, indent=2))
        zf.writestr("config.json", json.dumps(config, indent=2))
        # arrays uncompressed: declared size == stored size (see _MAX_RATIO)
        zf.writestr("weights.npz", _npz_bytes(weights), zipfile.ZIP_STORED)
        if optimizer_state is not None:
            zf.writestr("optimizer.npz", _npz_bytes(optimizer_state), zipfile.ZIP_STORED)


def save_model(model, filepath, overwrite=True, training_state=None):
    """Write ``model`` to ``filepath`` (see the module docstring for the format).

    ``training_state`` (a JSON-ready dict) is stored in the metadata;
    ``Model.save_training_state`` keeps the epoch and the random generators' states
    there.  Weights that are NaN or inf are written as they are (loading warns).
    A name ending in another library's extension (``.keras``, ``.h5``, ...) is refused
    (``check_extension``).
    """
    filepath = user_path(filepath, owner="save")
    check_extension(filepath, weights_only=False, owner="save")
    model._require_built("save")
    atomic_write(filepath, lambda f: _write_model(model, f, training_state), overwrite)


def save_weights(model, filepath, overwrite=True):
    """Write only the weights, as a plain ``.npz`` (atomically); a name ending in
    another library's extension (``.weights.h5``, ...) is refused."""
    filepath = user_path(filepath, owner="save_weights")
    check_extension(filepath, weights_only=True, owner="save_weights")
    model._require_built("save_weights")
    arrays = {f"w{i:03d}": w.value for i, w in enumerate(model.weights)}
    atomic_write(filepath, lambda f: f.write(_npz_bytes(arrays)), overwrite)


def model_to_json(model, **kwargs):
    """The architecture of ``model`` as a JSON string (``Model.to_json``): no weights,
    no compile settings, classes named only through fastnn's registries.

    Args:
        model: the model.
        **kwargs: passed to ``json.dumps`` (``indent=2``, say).
    """
    spec = {"format": JSON_FORMAT_NAME, "format_version": FORMAT_VERSION,
            "fastnn_version": __version__, "class_name": _class_name(model),
            "config": model.get_config()}
    return json.dumps(spec, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model with the architecture ``json_string`` describes (from
    ``model.to_json()``), freshly initialised: its weights are not in the JSON (load
    them with ``model.load_weights``).

    The JSON is read as ``load_model`` reads a file's architecture: classes are found
    only in ``custom_objects``, among the registered layers and among fastnn's own;
    nothing named in it is imported.

    Args:
        json_string: the JSON text (``str`` or ``bytes``).
        custom_objects: ``{class name: Layer subclass}`` for custom layers.

    Raises:
        ValueError: the text is not JSON from ``to_json`` (Keras's JSON is named as
            such), names an unknown layer class, or is malformed.
    """
    what = "the JSON given to model_from_json"
    if isinstance(json_string, (bytes, bytearray)):
        json_string = bytes(json_string).decode("utf-8", errors="replace")
    if not isinstance(json_string, str):
        refuse_argument("json_string", json_string, "a JSON string from model.to_json()",
                        wrong_type=True, owner="model_from_json")
    if len(json_string) > _MAX_JSON_BYTES:
        raise _invalid(what, f"it is {len(json_string):,} characters long (at most "
                             f"{_MAX_JSON_BYTES:,} are read)")
    try:
        spec = json.loads(json_string)
    except (ValueError, RecursionError) as exc:
        raise _invalid(what, f"it is not valid JSON ({str(exc)[:200]})") from None
    if isinstance(spec, dict) and "keras_version" in spec:
        raise ValueError(f"{what} was written by Keras {str(spec['keras_version'])[:40]}, "
                         f"not fastnn: fastnn reads only its own model.to_json(). Build "
                         f"the model in fastnn instead.")
    if isinstance(spec, dict) and spec.get("format") not in (None, JSON_FORMAT_NAME):
        raise _invalid(what, f"its format is {str(spec.get('format'))[:80]!r}, not "
                             f"{JSON_FORMAT_NAME!r}")
    custom_objects = _check_custom_objects(custom_objects)
    return _build_architecture(spec, None, what, custom_objects, require_built=False,
                               reader="model_from_json")


def _class_name(model):
    return "Sequential" if isinstance(model, _models.Sequential) else "Model"


def model_to_bytes(model):
    """The bytes of ``model``'s model file, written in memory (what pickling and
    ``copy.deepcopy`` carry: data only, never code)."""
    model._require_built("Pickling or copying")
    buf = io.BytesIO()
    _write_model(model, buf)
    return buf.getvalue()


def model_from_bytes(data, custom_objects=None):
    """The model held by ``data``, bytes from ``model_to_bytes`` (checked as any file)."""
    if not isinstance(data, (bytes, bytearray)):
        refuse_argument("data", data, "the bytes of a model file", wrong_type=True,
                        owner="model_from_bytes")
    return _load(io.BytesIO(bytes(data)), _IN_MEMORY, custom_objects, compile=True)


def custom_objects_of(model):
    """``{name: class or function}`` for the custom layers, losses and metrics ``model``
    uses, under the names its file gives them: a deep copy needs no registration."""
    found = {}
    for layer in model.layers:
        cls = type(layer)
        if _layers.REGISTRY.get(cls.__name__) is not cls:
            found[cls.__name__] = cls
    if not model.compiled:
        return found
    args = model._compile_args

    def walk(spec, kind):
        if isinstance(spec, (list, tuple)):
            for s in spec:
                walk(s, kind)
        elif isinstance(spec, dict):
            for s in spec.values():
                walk(s, kind)
        elif spec is not None and not isinstance(spec, str):
            obj = losses.get(spec) if kind == "loss" else metrics.get(spec)
            if type(obj) is metrics.MeanMetricWrapper:
                found[metrics.function_name(obj._fn)] = obj._fn
            else:
                found[type(obj).__name__] = type(obj)

    walk(args["loss"], "loss")
    walk(args["metrics"], "metric")
    walk(args.get("weighted_metrics"), "metric")
    return found


# --------------------------------------------------------------------- reading
def _invalid(filepath, why):
    return ValueError(f"{filepath} is not a valid fastnn model file: {why}")


def _other_architecture(filepath, why):
    return ValueError(f"{filepath} holds the weights of another architecture: {why}. "
                      f"Load it into a model built like the one that saved it (same "
                      f"layers, units and input shape).")


_KERAS_ADVICE = ("fastnn does not read Keras files. To move the weights over, build "
                 "the same model in fastnn and copy them: "
                 "fastnn_model.set_weights(keras_model.get_weights()) (Dense kernels "
                 "are (inputs, units) in both).")


def _keras_file(filepath, zf):
    version = ""
    try:
        if zf.getinfo("metadata.json").file_size <= _MAX_JSON_BYTES:
            meta = json.loads(zf.read("metadata.json").decode("utf-8"))
            if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
                version = f", written by Keras {meta['keras_version'][:40]}"
    except (KeyError, ValueError, UnicodeDecodeError, RecursionError, zipfile.BadZipFile,
            zlib.error, OSError, EOFError, RuntimeError, NotImplementedError):
        pass
    return ValueError(f"{filepath} is a Keras model file (.keras{version}), not a fastnn "
                      f"file. {_KERAS_ADVICE}")


def _hdf5_file(filepath):
    return ValueError(f"{filepath} is an HDF5 file (a Keras .h5 or .weights.h5 file?), "
                      f"not a fastnn file. {_KERAS_ADVICE}")


def _is_weights_file(infos):
    """Whether the archive is a whole ``save_weights`` file.  A truncated model file
    can expose the directory of its inner (stored) weights.npz: its members then
    start past byte 0, which a file of its own never does."""
    return bool(infos) and all(i.filename.endswith(".npy") for i in infos) and min(
        i.header_offset for i in infos) == 0


def _is_keras_file(names):
    return "model.weights.h5" in names  # every Keras 3 .keras archive holds it


def _starts_with_hdf5(source):
    if not isinstance(source, str):
        return False
    with open(source, "rb") as f:
        return f.read(len(_HDF5_MAGIC)) == _HDF5_MAGIC


def _open_zip(source, filepath):
    """The archive, after checking its member list (names, duplicates, methods, sizes).

    ``source`` is a path or a binary file object; ``filepath`` names it in messages.
    """
    if isinstance(source, str) and not os.path.isfile(source):
        raise FileNotFoundError(f"No model file at {filepath}")
    if _starts_with_hdf5(source):
        raise _hdf5_file(filepath)
    try:
        zf = zipfile.ZipFile(source, "r")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as exc:
        raise _invalid(filepath, f"not a zip archive or truncated ({exc})") from None
    try:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        unexpected = sorted(set(names) - _MEMBERS)
        if _is_keras_file(names):
            raise _keras_file(filepath, zf)
        if _is_weights_file(infos):
            raise ValueError(f"{filepath} is a weights file (written by save_weights), "
                             f"not a model file: build the model that saved it and call "
                             f"model.load_weights({filepath!r}).")
        if unexpected and "metadata.json" in names:
            # a newer fastnn may add members: say so rather than "unexpected members"
            _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
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


def _read_npz(data, filepath, member, expected=None, max_bytes=None, mismatch=_invalid):
    """The arrays of an .npz held in ``data``, parsed without ``np.load``.

    Args:
        expected: ``{key: shape}`` the arrays must match exactly (all keys present), or
            None to accept any keys of the form ``name`` or ``index/name``.
        max_bytes: bound on the total array bytes (with ``expected``, their exact sum).
        mismatch: ``mismatch(filepath, why)`` builds the error for arrays that do not
            match ``expected`` (a corrupt model file, or weights of another model).
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
        raise mismatch(filepath, f"{member} holds {len(keys)} arrays; the architecture "
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
                    raise mismatch(filepath, f"weight {key} has shape {shape}; the "
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
    if type(version) is int and version > FORMAT_VERSION:
        written_by = meta.get("fastnn_version")
        written_by = f"fastnn {written_by[:40]}, " if isinstance(written_by, str) else ""
        raise ValueError(f"{filepath} was written by a newer fastnn ({written_by}"
                         f"format_version {version}); this fastnn ({__version__}) reads "
                         f"format_version {FORMAT_VERSION}. Upgrade fastnn to load it.")
    if type(version) is not int or version != FORMAT_VERSION:
        raise _invalid(filepath, f"format_version {str(version)[:40]!r} is not supported "
                                 f"(this fastnn reads version {FORMAT_VERSION})")
    state = meta.get("training_state")
    if state is not None and not isinstance(state, dict):
        raise _invalid(filepath, "training_state must be a dict")
    return meta


def _check_weight_values(model, arrays, filepath):
    """Refuse weights that are not floats; warn about NaN or inf ones.

    Non-finite weights are what a diverged run holds: every writer saves them and
    every reader loads them (with this one warning), since a file that saves must
    load, and the user debugging the run needs it."""
    non_finite = []
    for i, var in enumerate(model.weights):
        value = arrays[f"w{i:03d}"]
        if value.dtype.kind != "f":
            raise _invalid(filepath, f"weight {var.name} has dtype {value.dtype}")
        if not np.isfinite(value).all():
            non_finite.append(var.name)
    if non_finite:
        listed = ", ".join(non_finite[:5]) + (", ..." if len(non_finite) > 5 else "")
        warnings.warn(f"{filepath}: {len(non_finite)} of {len(arrays)} weights hold NaN or "
                      f"inf ({listed}); the model was saved after its training diverged. "
                      f"It is loaded as saved, so its outputs will not be finite "
                      f"(lower the learning rate, or use callbacks.TerminateOnNaN).",
                      RuntimeWarning, stacklevel=5)  # the caller of load_model / load_weights


def _assign_weights(model, arrays, filepath, mismatch=_invalid):
    weights = model.weights
    expected = {f"w{i:03d}" for i in range(len(weights))}
    if set(arrays) != expected:
        raise mismatch(filepath, f"it holds {len(arrays)} arrays; the architecture has "
                                 f"{len(weights)} weights")
    for i, var in enumerate(weights):
        if arrays[f"w{i:03d}"].shape != var.shape:
            raise mismatch(filepath, f"weight {var.name} has shape "
                                     f"{arrays[f'w{i:03d}'].shape}; the architecture "
                                     f"needs {var.shape}")
    _check_weight_values(model, arrays, filepath)
    for i, var in enumerate(weights):
        var.assign(arrays[f"w{i:03d}"])


def _read_weights(zf, model, filepath, mismatch=_invalid):
    """weights.npz, checked against ``model``'s weights (shapes) before it is read."""
    budget = _weights_budget(model)
    expected = {f"w{i:03d}": w.shape for i, w in enumerate(model.weights)}
    if mismatch is not _invalid and zf.getinfo("weights.npz").file_size > budget:
        raise mismatch(filepath, "its weights are larger than this model's")
    data = _read_member(zf, "weights.npz", budget, filepath)
    return _read_npz(data, filepath, "weights.npz", expected, budget, mismatch)


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


# ------------------------------------------------------------- custom objects
class _UnknownObject(ValueError):
    """A file names a custom layer, loss or metric this session does not know."""


# kind -> (what to register it with, whether compile=False skips it)
_KINDS = {"layer class": ("fastnn.layers.register", False),
          "loss": ("fastnn.losses.register", True),
          "metric": ("fastnn.metrics.register", True),
          "metric function": ("fastnn.metrics.register", True)}


def _known_names(kind):
    """The names fastnn knows for ``kind`` (one of ``_KINDS``), for the hint."""
    if kind == "layer class":
        return sorted(_layers.REGISTRY)
    if kind == "loss":
        return losses.names()
    return metrics.names(functions=kind == "metric function")


def _unknown(filepath, kind, name, reader="load_model"):
    register, compiled = _KINDS[kind]
    name = name[:80] if isinstance(name, str) else name
    skip = (", or load with compile=False to skip the compile settings (the "
            "architecture and weights load without it)") if compiled else ""
    return _UnknownObject(
        f"Unknown {kind} {name!r} in {filepath}.{did_you_mean(name, _known_names(kind))} "
        f"If it is a custom {kind.split()[0]}, "
        f"pass it to {reader}(..., custom_objects={{{name!r}: ...}}) or decorate its "
        f"definition with @{register} before loading{skip}. (fastnn never imports code "
        f"named in a file.)")


def _check_custom_objects(custom_objects):
    """``custom_objects`` as a dict of name -> class or function."""
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict) or not all(
            isinstance(k, str) for k in custom_objects):
        refuse_argument("custom_objects", custom_objects,
                        "None or a dict of name -> class or function", wrong_type=True,
                        owner="load_model")
    for name, obj in custom_objects.items():
        if not callable(obj):
            refuse_argument(f"custom_objects[{name!r}]", obj, "a class or a function",
                            wrong_type=True, owner="load_model")
    return dict(custom_objects)


class _WrongCustomObject(ArgumentTypeError):
    """An entry of ``custom_objects`` is not the kind of object the file names: the
    caller's mistake, reported as such (not as a bad file)."""


def _custom_class(custom_objects, name, base, kind):
    """``custom_objects[name]`` when given, checked to be a subclass of ``base``."""
    obj = custom_objects.get(name)
    if obj is not None and not (isinstance(obj, type) and issubclass(obj, base)):
        try:
            refuse_argument(f"custom_objects[{name!r}]", obj,
                            f"a {base.__module__}.{base.__name__} subclass (the {kind} "
                            f"the file names)", wrong_type=True, owner="load_model")
        except ArgumentTypeError as exc:
            raise _WrongCustomObject(str(exc)) from None
    return obj


def _layer_classes(config, custom_objects, filepath, reader="load_model"):
    """The custom layer classes the architecture names, from ``custom_objects``; an
    unknown name raises the custom-object error before anything is built."""
    found = {}
    specs = config.get("layers")
    for spec in specs if isinstance(specs, list) else []:
        name = spec.get("class_name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            continue  # a malformed spec: from_config refuses it
        cls = _custom_class(custom_objects, name, _layers.Layer, "layer class")
        if cls is not None:
            found[name] = cls
        elif name not in _layers.REGISTRY:
            raise _unknown(filepath, "layer class", name, reader)
    return found


def _config_of(spec):
    config = spec.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ValueError(f"the config of {spec.get('class_name')!r} must be a dict")
    return dict(config)


def _deserialize_loss(spec, custom_objects, filepath):
    """A saved ``loss`` entry as what ``compile`` takes (names stay names)."""
    if isinstance(spec, list):
        return [_deserialize_loss(s, custom_objects, filepath) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:  # one loss per output
        return {k: _deserialize_loss(v, custom_objects, filepath) for k, v in spec.items()}
    if isinstance(spec, str):
        cls = _custom_class(custom_objects, spec, losses.Loss, "loss")
        if cls is not None:
            return cls()
        if losses.lookup(spec) is None:
            raise _unknown(filepath, "loss", spec)
        return spec
    if not isinstance(spec, dict):
        return spec  # compile refuses it
    name = spec["class_name"]
    cls = _custom_class(custom_objects, name, losses.Loss, "loss") or losses.lookup(name)
    if cls is None:
        raise _unknown(filepath, "loss", name)
    return cls.from_config(_config_of(spec))


def _deserialize_metric(spec, custom_objects, filepath):
    """A saved ``metrics`` entry as what ``compile`` takes (names stay names)."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return [_deserialize_metric(s, custom_objects, filepath) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:  # metrics per output
        return {k: _deserialize_metric(v, custom_objects, filepath) for k, v in spec.items()}
    if isinstance(spec, str):
        obj = custom_objects.get(spec)
        if obj is not None:
            return obj
        if spec.lower() not in ("accuracy", "acc") and metrics.lookup(spec) is None:
            raise _unknown(filepath, "metric", spec)
        return spec
    if not isinstance(spec, dict):
        return spec  # compile refuses it
    name = spec["class_name"]
    if name == "MeanMetricWrapper":
        fn_name = spec.get("function")
        if not isinstance(fn_name, str):
            raise _invalid(filepath, "a MeanMetricWrapper metric names no function")
        fn = custom_objects.get(fn_name) or metrics.lookup_function(fn_name)
        if fn is None or isinstance(fn, type):
            raise _unknown(filepath, "metric function", fn_name)
        return metrics.MeanMetricWrapper(fn, **_config_of(spec))
    cls = _custom_class(custom_objects, name, metrics.Metric, "metric") or metrics.lookup(name)
    if not (isinstance(cls, type) and issubclass(cls, metrics.Metric)):
        raise _unknown(filepath, "metric", name)
    return cls.from_config(_config_of(spec))


# --------------------------------------------------------------------- building
def _build_architecture(spec, weights_bytes, filepath, custom_objects, require_built=True,
                        reader="load_model"):
    """The model of ``spec`` (config.json), built under a byte limit: ``weights_bytes``
    (the weights member's declared size) bounds the weights the config may create
    (None: no bound, for an architecture without weights, as ``model_from_json``
    reads).  ``require_built``: refuse a Sequential without an input shape (a file's
    weights need one)."""
    if not isinstance(spec, dict) or spec.get("class_name") not in ("Sequential", "Model"):
        raise _invalid(filepath, "config.json names no Sequential or Model")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise _invalid(filepath, "the architecture config must be a dict")
    if _count_layers(config) > _MAX_LAYERS:
        raise _invalid(filepath, f"the architecture lists {_count_layers(config):,} layers "
                                 f"(at most {_MAX_LAYERS} are read)")
    custom_layers = _layer_classes(config, custom_objects, filepath, reader)
    cls = _models.Sequential if spec["class_name"] == "Sequential" else _models.Model
    limit = (contextlib.nullcontext() if weights_bytes is None else
             weight_byte_limit(weights_bytes, f"{filepath} is not a valid fastnn model file"))
    try:
        with limit:
            model = cls.from_config(config, custom_objects=custom_layers)
    except _LOAD_ERRORS as exc:
        if str(exc).startswith(f"{filepath} is not a valid"):
            raise ValueError(str(exc)) from None
        raise _invalid(filepath, f"bad architecture config ({type(exc).__name__}: "
                                 f"{str(exc)[:300]})") from None
    if require_built and not model.built:
        raise _invalid(filepath, "the architecture has no input shape")
    return model


def _restore_compile(model, zf, compile_config, filepath, custom_objects):
    if not isinstance(compile_config, dict):
        raise _invalid(filepath, "compile_config must be a dict")
    try:
        optimizer = optimizers.deserialize(compile_config["optimizer"])
        loss = _deserialize_loss(compile_config["loss"], custom_objects, filepath)
        metric_lists = {key: _deserialize_metric(compile_config[key], custom_objects, filepath)
                        for key in ("metrics", "weighted_metrics") if key in compile_config}
        model.compile(optimizer=optimizer, loss=loss,
                      loss_weights=compile_config.get("loss_weights"), **metric_lists)
    except (_UnknownObject, _WrongCustomObject):
        raise  # a missing custom object, or a wrong one given in custom_objects
    except _LOAD_ERRORS as exc:
        if str(exc).startswith(f"{filepath} is not a valid"):
            raise
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


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved by ``model.save`` (Keras 3's signature).

    The file names every class and function it needs (layers, losses, metrics); they
    are looked up in ``custom_objects``, then among those registered with
    ``fastnn.layers.register``, ``fastnn.losses.register`` or
    ``fastnn.metrics.register``, then among fastnn's own.  Nothing named in a file is
    ever imported, and no code from it runs.

    Args:
        filepath: path of the saved file (``str``, ``bytes`` or ``os.PathLike``).
        custom_objects: ``{name: class or function}`` for custom layers, losses and
            metrics, under the names the file gives them (the class name, or the
            metric function's name), e.g. ``{"MyLayer": MyLayer, "f1": f1}``.
        compile: restore the compile settings and optimizer state too.  With
            ``compile=False`` the custom losses and metrics are not needed.
        safe_mode: accepted for Keras compatibility; fastnn's loading is always safe
            (a file cannot make it run code), so it changes nothing.

    Returns:
        The model.  Weights that hold NaN or inf (saved after a diverged run) load as
        they are, with a ``RuntimeWarning``.

    Raises:
        FileNotFoundError: there is no file at ``filepath``.
        ValueError: the file is not a fastnn model (a Keras file, a weights file, a
            file from a newer fastnn are named as such), is truncated or corrupt, is
            too large for what it declares, does not match its own architecture, or
            names a custom object that is neither given nor registered.
    """
    filepath = user_path(filepath, owner="load_model")
    check_bool("compile", compile, owner="load_model")
    check_bool("safe_mode", safe_mode, owner="load_model")
    return _load(filepath, filepath, custom_objects, compile)


def _load(source, filepath, custom_objects, compile):
    """The model in ``source`` (a path or a binary file object) named ``filepath``."""
    custom_objects = _check_custom_objects(custom_objects)
    with _open_zip(source, filepath) as zf:
        _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
        spec = _read_json(zf, "config.json", filepath)
        declared = zf.getinfo("weights.npz").file_size
        model = _build_architecture(spec, declared, filepath, custom_objects)
        _assign_weights(model, _read_weights(zf, model, filepath), filepath)
        _restore_rng_state(model, spec.get("rng_state") or {}, filepath)
        compile_config = spec.get("compile_config")
        if compile and compile_config:
            _restore_compile(model, zf, compile_config, filepath, custom_objects)
    return model


def restore_training_state(model, filepath):
    """Load a backup written during ``fit`` into ``model`` itself: weights, optimizer
    state and per-layer random state; returns the file's ``training_state`` dict.

    ``model`` must have the architecture the file was written from (its weights are
    the reference for every shape); used by ``Model.load_training_state``.
    """
    filepath = user_path(filepath, owner="load_training_state")
    model._require_built("restore a backup into")
    with _open_zip(filepath, filepath) as zf:
        meta = _check_metadata(_read_json(zf, "metadata.json", filepath), filepath)
        state = meta.get("training_state")
        if not isinstance(state, dict):
            raise _invalid(filepath, "it holds no training state (not a fit backup)")
        _check_training_state(state, filepath)
        arrays = _read_weights(zf, model, filepath, mismatch=_other_architecture)
        _check_weight_values(model, arrays, filepath)
        layer_states = state.get("layer_rng_states")
        layers = model.layers
        if not isinstance(layer_states, list) or len(layer_states) != len(layers):
            raise _other_architecture(filepath, "its layer_rng_states do not match the "
                                                "model's layers")
        for layer, st in zip(layers, layer_states):
            if (st is None) != (not hasattr(layer, "set_rng_state")):
                raise _other_architecture(filepath, f"the random state of layer "
                                                    f"{layer.name!r} does not match")
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


def _check_weights_file(filepath):
    """Refuse, by what they are, the files ``load_weights`` cannot read: HDF5 (Keras),
    a full model file, a Keras ``.keras`` file."""
    if _starts_with_hdf5(filepath):
        raise _hdf5_file(filepath)
    try:
        with zipfile.ZipFile(filepath) as zf:
            names = zf.namelist()
            keras = _is_keras_file(names)
            if keras:
                raise _keras_file(filepath, zf)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
            NotImplementedError):
        return  # _read_npz says what is wrong
    if "weights.npz" in names or "metadata.json" in names:
        raise ValueError(f"{filepath} is a full model file (written by model.save), not "
                         f"a weights file: load it with "
                         f"fastnn.models.load_model({filepath!r}).")


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` into ``model``, checking every shape.

    Weights that hold NaN or inf load as they are, with a ``RuntimeWarning``.
    """
    filepath = user_path(filepath, owner="load_weights")
    model._require_built("load_weights")
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}")
    _check_weights_file(filepath)
    budget = _weights_budget(model)
    if os.path.getsize(filepath) > budget:
        raise _other_architecture(filepath, "the file is larger than this model's weights")
    with open(filepath, "rb") as f:
        data = f.read(budget + 1)
    expected = {f"w{i:03d}": w.shape for i, w in enumerate(model.weights)}
    arrays = _read_npz(data, filepath, "weights", expected, budget, _other_architecture)
    _assign_weights(model, arrays, filepath, _other_architecture)
