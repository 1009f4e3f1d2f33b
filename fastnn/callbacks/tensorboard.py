"""`TensorBoard`: training logs as event files that ``tensorboard --logdir`` shows.

The layout and tags are Keras 3's: ``log_dir/train`` and ``log_dir/validation`` each
hold event files; per epoch (step = epoch index) ``epoch_loss``, ``epoch_<metric>`` and,
under train, ``epoch_learning_rate``; per batch (step = training batches since the
start of ``fit``) ``batch_<name>`` when ``update_freq`` asks for it; weight histograms
``<layer>/<weight>/histogram`` under train; ``evaluation_<name>_vs_iterations`` under
validation after each validation run (step = optimizer iterations).

Records are written by the ``tensorboard`` package itself (its ``EventFileWriter`` and
its scalar / histogram summary protos, the same tensor summaries ``tf.summary`` writes),
so the files are read by any TensorBoard; the package is an optional extra
(``pip install 'fastnn[tensorboard]'``), imported when the callback is created.
"""

import json
import os
import time

import numpy as np

from ..utils.extras import require_extra
from ..utils.validation import check_bool, check_int, check_path, refuse_argument
from .callback import Callback

_FEATURE = "fastnn.callbacks.TensorBoard"


def _tensorboard_modules():
    """The tensorboard parts the callback writes with (ImportError naming the extra).

    Imported on use through ``require_extra``: tensorboard is optional, and importing
    it costs about a second.
    """
    def load(name):
        return require_extra(name, "tensorboard", _FEATURE)

    return {
        "event_pb2": load("tensorboard.compat.proto.event_pb2"),
        "summary_pb2": load("tensorboard.compat.proto.summary_pb2"),
        "tensor_util": load("tensorboard.util.tensor_util"),
        "scalar_pb": load("tensorboard.plugins.scalar.summary_v2").scalar_pb,
        "histogram_pb": load("tensorboard.plugins.histogram.summary_v2").histogram_pb,
        "EventFileWriter": load(
            "tensorboard.summary.writer.event_file_writer").EventFileWriter,
    }


class TensorBoard(Callback):
    """Writes logs for TensorBoard: ``tensorboard --logdir logs`` then shows them.

    Args:
        log_dir: the folder of the logs; ``train`` and ``validation`` subfolders are
            made in it.
        histogram_freq: every how many epochs to write histograms of the weights
            (0: never).
        write_graph: whether to write the model's architecture, which TensorBoard's
            Graphs tab shows as its conceptual ("Keras") graph.  fastnn has no
            TensorFlow op graph, so that is the only graph written.
        write_images: must be False (fastnn does not write weight images).
        write_steps_per_second: whether to log training steps per second (per epoch,
            and per batch when batch-level logging is on).
        update_freq: "epoch" (scalars per epoch only), "batch" (also after every
            batch) or an integer N (also after every N-th batch).
        profile_batch: must be 0 (fastnn has no TensorFlow profiler).
        embeddings_freq: must be 0 (fastnn does not write the embedding projector).
        embeddings_metadata: must be None.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._tb = _tensorboard_modules()
        self.log_dir = os.fspath(check_path("log_dir", log_dir, owner="TensorBoard"))
        self.histogram_freq = check_int("histogram_freq", histogram_freq, low=0,
                                        owner="TensorBoard")
        self.write_graph = check_bool("write_graph", write_graph, owner="TensorBoard")
        self.write_steps_per_second = check_bool(
            "write_steps_per_second", write_steps_per_second, owner="TensorBoard")
        self.update_freq = _check_update_freq(update_freq)
        _refuse_unsupported("write_images", write_images, False)
        _refuse_unsupported("profile_batch", profile_batch, 0)
        _refuse_unsupported("embeddings_freq", embeddings_freq, 0)
        _refuse_unsupported("embeddings_metadata", embeddings_metadata, None)
        self.write_images = False
        self.profile_batch = 0
        self.embeddings_freq = 0
        self.embeddings_metadata = None
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = None
        self._epoch_start_batch = 0
        self._batch_start = None

    # ----------------------------------------------------------------- writers
    def _writer(self, run):
        """The event file writer of ``run`` ("train" or "validation"), made on first use,
        so a fit without validation makes no validation folder (as Keras)."""
        writer = self._writers.get(run)
        if writer is None:
            writer = self._tb["EventFileWriter"](os.path.join(self.log_dir, run))
            self._writers[run] = writer
        return writer

    def _write(self, run, summary, step):
        event = self._tb["event_pb2"].Event(wall_time=time.time(), step=int(step),
                                            summary=summary)
        self._writer(run).add_event(event)

    def _scalar(self, run, tag, value, step):
        value = _as_scalar(value)
        if value is not None:
            self._write(run, self._tb["scalar_pb"](tag, value), step)

    def _flush(self):
        for writer in self._writers.values():
            writer.flush()

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._epoch_start_batch = 0
        if self.write_graph:
            self._write_model_config()
            self._flush()

    def on_train_end(self, logs=None):
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_start_batch = self._global_train_batch

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq == "epoch" or step % self.update_freq:
            return
        if self.write_steps_per_second and self._batch_start is not None:
            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                self._scalar("train", "batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        learning_rate = _learning_rate(self.model)
        if learning_rate is not None:
            train["learning_rate"] = learning_rate
        if self.write_steps_per_second and self._epoch_start is not None:
            elapsed = time.perf_counter() - self._epoch_start
            if elapsed > 0:
                train["steps_per_second"] = (
                    self._global_train_batch - self._epoch_start_batch) / elapsed
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in validation.items():
            self._scalar("validation", f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_weight_histograms(epoch)
        self._flush()

    def on_test_end(self, logs=None):
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if iterations is None:
            return
        for name, value in (logs or {}).items():
            self._scalar("validation", f"evaluation_{name}_vs_iterations", value, iterations)
        self._flush()

    # ----------------------------------------------------------------- contents
    def _write_weight_histograms(self, epoch):
        for layer in getattr(self.model, "layers", []):
            for weight in layer.weights:
                # weight names are already "<layer>/<weight>"
                tag = f"{weight.name}/histogram"
                self._write("train", self._tb["histogram_pb"](tag, weight.value), epoch)

    def _write_model_config(self):
        """The architecture as Keras' JSON, under the tag and plugin Keras uses
        ("keras", ``graph_keras_model``): TensorBoard draws it in its Graphs tab."""
        get_config = getattr(self.model, "get_config", None)
        if get_config is None or not getattr(self.model, "built", True):
            return
        text = json.dumps(keras_model_json(self.model), default=str)
        pb2 = self._tb["summary_pb2"]
        metadata = pb2.SummaryMetadata(plugin_data=pb2.SummaryMetadata.PluginData(
            plugin_name="graph_keras_model", content=b"1"))
        tensor = self._tb["tensor_util"].make_tensor_proto(text.encode("utf-8"))
        summary = pb2.Summary()
        summary.value.add(tag="keras", metadata=metadata, tensor=tensor)
        self._write("train", summary, 0)


def keras_model_json(model):
    """A fastnn model's architecture in the shape of Keras 3's ``to_json()`` data,
    which TensorBoard's graph plugin reads: ``{"class_name", "config": {"name",
    "layers": [...]}}``, functional layers with ``inbound_nodes`` pointing at the
    ``keras_history`` of their inputs.

    Args:
        model: a built fastnn model.
    """
    config = model.get_config()
    layers = []
    for spec in config["layers"]:
        layer = {"class_name": spec["class_name"],
                 "config": {"name": spec.get("name") or spec["config"].get("name"),
                            **spec["config"]}}
        if "inbound_nodes" in spec:
            layer["inbound_nodes"] = [
                {"args": [[{"class_name": "__keras_tensor__",
                            "config": {"keras_history": [name, index, 0]}}
                           for name, index in node]]}
                for node in spec["inbound_nodes"]
            ]
        layers.append(layer)
    functional = "input_layers" in config
    return {"class_name": "Functional" if functional else "Sequential",
            "config": {"name": config.get("name"), "layers": layers}}


def _check_update_freq(update_freq):
    if isinstance(update_freq, str):
        if update_freq == "batch":
            return 1
        if update_freq == "epoch":
            return "epoch"
    elif not isinstance(update_freq, bool) and isinstance(update_freq, (int, np.integer)) \
            and update_freq >= 1:
        return int(update_freq)
    refuse_argument("update_freq", update_freq, "'epoch', 'batch' or an integer >= 1",
                    owner="TensorBoard")


def _refuse_unsupported(name, value, default):
    if value is not default and value != default:
        refuse_argument(name, value, f"{default!r}: fastnn's TensorBoard does not support "
                        f"{name} (it needs TensorFlow)", owner="TensorBoard")


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    value = getattr(optimizer, "learning_rate", None)
    return None if value is None else float(value)


def _as_scalar(value):
    """A log value as a float, or None for what is not one number (skipped, as a
    vector-valued metric cannot be a scalar summary)."""
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "biuf":
        return None
    return float(arr)


__all__ = ["TensorBoard", "keras_model_json"]
