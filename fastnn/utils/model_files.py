"""The names fastnn writes model and weights files under.

``model.save`` and ``save_weights`` refuse a name whose extension promises another
library's format (``.h5``, ``.keras``, ...), and ``ModelCheckpoint`` refuses it when it
is made, with the same message; this module holds the check so that the callbacks need
not import the models.
"""

import os

# Extensions of formats fastnn does not write: a name promising one of them is refused
# rather than given fastnn's zip under a name that tells every other tool otherwise.
_FOREIGN_EXTENSIONS = {
    ".keras": "Keras 3's .keras format",
    ".h5": "HDF5 (Keras 2's format)",
    ".hdf5": "HDF5 (Keras 2's format)",
    ".onnx": "ONNX (for ONNX, call model.export(filepath, format='onnx'))",
}
MODEL_EXTENSION = ".fastnn"
WEIGHTS_EXTENSION = ".npz"


def check_extension(filepath, weights_only, owner):
    """Refuse a ``filepath`` whose extension names a format fastnn does not write
    (``.keras``, ``.h5``, ``.hdf5``, ``.onnx``; ``.weights.h5`` too), saying what
    fastnn writes instead.  Any other name is accepted.

    Args:
        filepath: the path, as a ``str``.
        weights_only: the file is for ``save_weights`` (a ``.npz``), not ``save``.
        owner: the method, for the message ("save", "save_weights", ...).
    """
    ext = os.path.splitext(filepath)[1].lower()
    what = _FOREIGN_EXTENSIONS.get(ext)
    if what is None:
        return
    if weights_only:
        advice = (f"fastnn writes weights as a NumPy archive: use a "
                  f"'{WEIGHTS_EXTENSION}' name, e.g. model.save_weights('model"
                  f"{WEIGHTS_EXTENSION}')")
    else:
        advice = (f"fastnn writes its own format (a zip of JSON and NumPy arrays that "
                  f"load_model reads): use a '{MODEL_EXTENSION}' name, e.g. "
                  f"model.save('model{MODEL_EXTENSION}')")
    raise ValueError(f"{owner}: cannot write {filepath!r}: its extension {ext!r} names "
                     f"{what}, which fastnn does not write. {advice}.")
