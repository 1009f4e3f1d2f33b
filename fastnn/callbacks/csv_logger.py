"""`CSVLogger`: each epoch's logs as one row of a CSV file."""

import collections.abc
import csv
import io
import locale
import os

import numpy as np

from ..utils.files import atomic_write, make_parent_dirs
from ..utils.validation import check_path, check_str
from .callback import Callback


class CSVLogger(Callback):
    """Writes each epoch's logs as one row of a CSV file.

    The header is `epoch` followed by the log names in sorted order, set at
    the first epoch (or taken from the file when appending); a name missing
    later is written as `NA`. Columns are never dropped: a name that is not in
    the header yet (a run appending with other metrics, a value logged from a
    later epoch on) adds a column at the end, and the file is rewritten, at
    once and atomically, with the wider header and `NA` in that column of the
    earlier rows. (Keras keeps the first header and silently drops the new
    names.) The file is flushed after every row and closed at the end of
    training.

    Args:
        filename: Path of the CSV file.
        separator: One character separating the fields.
        append: Whether to append to an existing file (no second header) rather
            than overwrite it. The file must then be empty or start with a
            header this logger wrote, with the same separator.
    """

    primary_rank_only = True  # one rank of a data-parallel run writes the file

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        check_str("separator", separator, owner="CSVLogger")
        if len(separator) != 1:  # the csv module takes one character
            raise ValueError(
                "CSVLogger: Invalid value for argument `separator`: expected a single "
                f"character. Received: separator={separator!r}"
            )
        self.filename = os.fspath(check_path("filename", filename, owner="CSVLogger"))
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._close()
        self.keys = None
        self._write_header = True
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0:
            self._write_header = False
            # Continue under the existing header's columns, so a run that
            # logs different names still writes aligned rows.
            self.keys = self._read_rows()[0][1:]
        make_parent_dirs(self.filename)
        # newline="" lets the csv module choose line endings itself.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None or self.csv_file.closed:
            # Used outside `fit` (no on_train_begin): open on first use.
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
            # A model that validates only some epochs still gets val_ columns.
            for name in getattr(self.model, "metrics_names", None) or ():
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        new_keys = sorted(key for key in logs if key not in self.keys)
        if new_keys:  # never before the header is written: it has the first logs' names
            self._add_columns(new_keys)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self.writer.writerow(["epoch"] + self.keys)
                self._write_header = False
        row = [epoch] + [_csv_value(logs.get(key, "NA")) for key in self.keys]
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _read_rows(self):
        """The file's rows, header first; refuses a file this logger did not write."""
        with open(self.filename, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.sep))
        if not rows or rows[0][:1] != ["epoch"]:
            first = rows[0] if rows else []
            raise ValueError(
                f"CSVLogger cannot append to {self.filename}: its first line is not a "
                f"CSVLogger header (`epoch` then the log names, separated by "
                f"{self.sep!r}). Was it written with another separator? "
                f"Received first line: {self.sep.join(first)[:200]!r}"
            )
        return rows

    def _add_columns(self, new_keys):
        """Widens the header written in the file by `new_keys`: the file is
        rewritten atomically, earlier rows getting `NA` in the new columns."""
        self.csv_file.close()
        rows = self._read_rows()
        self.keys.extend(new_keys)
        width = 1 + len(self.keys)
        text = io.StringIO(newline="")
        writer = csv.writer(text, delimiter=self.sep)
        writer.writerow(["epoch"] + self.keys)
        for row in rows[1:]:
            writer.writerow(row + ["NA"] * (width - len(row)))
        # the encoding `open` uses by default, as for the rows appended
        encoding = locale.getpreferredencoding(False)
        atomic_write(self.filename, lambda f: f.write(text.getvalue().encode(encoding)))
        self.csv_file = open(self.filename, "a", newline="")
        self.writer = None

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    # Scalars as written by str(); a vector as one quoted "[a, b]" cell.
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, collections.abc.Iterable):
        return f"[{', '.join(map(str, value))}]"
    return value
