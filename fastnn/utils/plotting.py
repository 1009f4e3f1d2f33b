"""Training curves: ``plot_history`` draws what ``fit`` returned, with matplotlib.

matplotlib is an optional extra (``pip install 'fastnn[plot]'``), imported on use.
(The chart of ``fastnn bench`` is drawn by ``fastnn.bench.plot``: a different picture
from different data.)
"""

import os

from .extras import require_extra
from .files import atomic_write, make_parent_dirs, user_path
from .validation import check_str, refuse_argument

_FEATURE = "fastnn.utils.plot_history"


def history_series(history):
    """The curves of a training history, grouped by quantity.

    Args:
        history: the ``History`` that ``fit`` returns (or its ``.history`` dict):
            ``{"loss": [...], "val_loss": [...], "accuracy": [...], ...}``.

    Returns:
        ``(epochs, panels)``: the epoch numbers (from 1) and a list of
        ``(quantity, {"training": values, "validation": values})``, loss first, the
        others in the order they were logged; a quantity logged only for validation
        has only that curve.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in logs.items()):
        refuse_argument("history", history,
                        "the History that fit returns, or a non-empty dict of "
                        "{name: per-epoch values}", wrong_type=not isinstance(logs, dict),
                        owner="plot_history")
    length = max(len(v) for v in logs.values())
    recorded = getattr(history, "epoch", None)
    if isinstance(recorded, list) and len(recorded) == length:
        epochs = [e + 1 for e in recorded]
    else:
        epochs = list(range(1, length + 1))
    panels = {}
    for key, values in logs.items():
        validation = key.startswith("val_")
        quantity = key[len("val_"):] if validation else key
        panels.setdefault(quantity, {})["validation" if validation else "training"] = list(
            values)
    order = sorted(panels, key=lambda q: q != "loss")  # loss first, others as logged
    return epochs, [(q, panels[q]) for q in order]


def plot_history(history, path=None, title=None):
    """Draw the loss and each metric per epoch, training and validation, one panel each.

    Args:
        history: the ``History`` that ``fit`` returns, or its ``.history`` dict.
        path: where to save the picture (its extension picks the format: .png, .svg,
            .pdf, ...), written atomically; parent folders are created.  None: nothing
            is saved.
        title: a title above the panels, or None.

    Returns:
        The ``matplotlib.figure.Figure``.  With ``path`` it is a standalone figure
        (drawn with the Agg canvas, never shown, no pyplot state); without, it is made
        through pyplot, so ``plt.show()`` or a notebook displays it.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'fastnn[plot]'``).
    """
    epochs, panels = history_series(history)
    if title is not None:
        check_str("title", title, owner="plot_history")
    if path is not None:
        path = user_path(path, "path", owner="plot_history")
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    size = (4.5 * cols, 3.4 * rows)
    if path is None:
        plt = require_extra("matplotlib.pyplot", "plot", _FEATURE)
        fig = plt.figure(figsize=size)
    else:
        fig = require_extra("matplotlib.figure", "plot", _FEATURE).Figure(figsize=size)
    ticker = require_extra("matplotlib.ticker", "plot", _FEATURE)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (quantity, curves) in zip(axes.flat, panels):
        for label, style in (("training", "-"), ("validation", "--")):
            if label in curves:
                values = curves[label]
                ax.plot(epochs[:len(values)], values, style, marker="o", markersize=3,
                        label=label)
        ax.set_title(quantity)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # one per axis
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig, path):
    """Write the figure to ``path`` in the format its extension names (png if none)."""
    extension = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if extension not in supported:
        refuse_argument("path", path, f"a file name ending in one of "
                        f"{', '.join('.' + e for e in sorted(supported))}",
                        owner="plot_history")
    make_parent_dirs(path)
    atomic_write(path, lambda f: fig.savefig(f, format=extension, dpi=110))
