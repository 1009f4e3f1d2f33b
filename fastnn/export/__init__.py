"""Model export to formats other runtimes read: ONNX (``model.export(path)``).

``export_model(model, filepath, format="onnx")`` is what ``Model.export`` calls.  Each
format lives in its own module (``onnx``), with a registry of per-layer exporters, so a
new layer gets an exporter without touching the rest.
"""

from ..utils.validation import refuse_argument
from . import onnx_layers  # noqa: F401  (registers the layer exporters)
from . import onnx_spatial  # noqa: F401  (convolution, pooling, padding)
from .onnx import export_onnx

#: The formats ``Model.export`` writes.
FORMATS = ("onnx",)


def export_model(model, filepath, format="onnx", verbose=True, input_signature=None,
                 **kwargs):
    """Write ``model`` to ``filepath`` in ``format`` for inference elsewhere.

    Args:
        model: a built fastnn model.
        filepath: the file to write.
        format: "onnx", the only format fastnn writes (Keras' "tf_saved_model" and
            "openvino" need TensorFlow and OpenVINO).
        verbose: whether to print where the file was written.
        input_signature: must be None: the inputs' shapes and dtype are the model's
            own, with a dynamic batch axis.
        **kwargs: options of the format; for "onnx", ``opset_version`` (15 or higher,
            default ``fastnn.export.onnx.DEFAULT_OPSET``).

    Returns:
        The path written.
    """
    if format not in FORMATS:
        refuse_argument("format", format,
                        "'onnx' (fastnn exports ONNX only; 'tf_saved_model' and "
                        "'openvino' need TensorFlow and OpenVINO)", owner="Model.export")
    if input_signature is not None:
        refuse_argument("input_signature", input_signature,
                        "None (the exported inputs take the model's own shapes and dtype, "
                        "with a dynamic batch axis)", owner="Model.export")
    unknown = sorted(set(kwargs) - {"opset_version"})
    if unknown:
        raise TypeError(f"Model.export(format='onnx') got unexpected keyword arguments "
                        f"{unknown}; it takes opset_version. Received: {kwargs!r}")
    return export_onnx(model, filepath, verbose=verbose, **kwargs)


__all__ = ["FORMATS", "export_model"]
