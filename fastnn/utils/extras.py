"""Optional dependencies (the ``[project.optional-dependencies]`` extras), imported on use.

fastnn needs NumPy only.  A feature built on another library (ONNX export, the
TensorBoard callback, plots) imports it through ``require_extra`` when it is used, so
that ``import fastnn`` never pays for it and a missing library is reported with the
``pip install`` line that brings it.
"""

import importlib


def require_extra(module_name, extra, feature):
    """Import ``module_name``, or raise an ImportError naming the extra to install.

    Args:
        module_name: the module to import, e.g. ``"onnx"`` or ``"matplotlib.pyplot"``.
        extra: the fastnn extra that installs it, e.g. ``"onnx"``.
        feature: what needs it, for the message, e.g. ``"model.export(format='onnx')"``.

    Returns:
        The imported module.

    Raises:
        ImportError: the module is not installed (or fails to import).
    """
    package = module_name.split(".")[0]
    try:
        # The package first: a submodule imported earlier stays in sys.modules even
        # when its package is gone (or blocked, as tests do).
        importlib.import_module(package)
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs the optional package {package!r}, which is not "
            f"installed: pip install 'fastnn[{extra}]' ({exc})"
        ) from exc
