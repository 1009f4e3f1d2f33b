"""The Keras-style progress bar printed by ``fit``, ``evaluate`` and ``predict``.

Two display modes, chosen once per bar from where ``sys.stdout`` points:

- dynamic (a terminal or a notebook): one line rewritten in place with ``\\r``,
  at most every ``interval`` seconds, coloured with ANSI codes;
- static (a file, a pipe, a CI log, pytest's capture): nothing while the epoch
  runs and a single plain line when it finishes, so logs are not flooded with
  one line per batch.

``sys.stdout`` is looked up at every write rather than bound at import, so a
redirect made after import (``contextlib.redirect_stdout``, pytest's ``capsys``)
still receives the output.
"""

import math
import numbers
import os
import sys
import time

from .validation import check_choice, check_int

_BAR_CHAR = "━"
# ANSI styles used only in dynamic mode; a log file gets plain text.
_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"


def _write(text):
    stream = sys.stdout
    stream.write(text)
    stream.flush()


def _stdout_is_dynamic():
    """Whether ``\\r`` rewrites the current line where stdout goes."""
    stream = sys.stdout
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        pass
    # Notebooks and PyCharm's console are not TTYs but do honour ``\r``.
    return "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def format_value(value):
    """Formats one metric the way Keras does: 4 decimals, or 4 significant
    digits in scientific notation when the value is too small for that."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    if abs(value) > 1e-3 or value == 0.0 or not math.isfinite(value):
        return f" {value:.4f}"
    return f" {value:.4e}"


def format_time_per_unit(seconds, unit_name):
    """``" 3ms/step"``: the unit (s, ms, us) keeps the number short."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds):
    """``1:02:03`` above an hour, ``2:03`` above a minute, else ``45s``."""
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class Progbar:
    """Displays a progress bar.

    Metric values passed to ``update`` are averaged over the steps seen (weighted
    by the steps each value covers) unless they are declared stateful, in which
    case the latest value is shown as is. By default every metric is averaged,
    as in Keras.

    Args:
        target: Total number of steps expected, or `None` if unknown.
        width: Width of the bar in characters.
        verbose: 0 (silent), 1 (a bar updated in place), 2 (one line when
            the bar finishes).
        interval: Minimum number of seconds between two redraws of the bar.
        stateful_metrics: Names of metrics shown as given instead of averaged.
            Give this or `stateless_metrics`, not both.
        stateless_metrics: Names of the only metrics to average; every other
            metric is shown as given.
        unit_name: Name of one step in the time-per-step display.
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        stateless_metrics=None,
        unit_name="step",
    ):
        target = check_int("target", target, low=0, allow_none=True, owner="Progbar")
        width = check_int("width", width, low=1, owner="Progbar")
        check_choice("verbose", verbose, (0, 1, 2), owner="Progbar")
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Pass at most one of `stateful_metrics` and `stateless_metrics`. "
                f"Received: stateful_metrics={stateful_metrics!r}, "
                f"stateless_metrics={stateless_metrics!r}"
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = None if stateful_metrics is None else set(stateful_metrics)
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        if self.stateful_metrics is None and self.stateless_metrics is None:
            self.stateful_metrics = set()

        self._dynamic_display = _stdout_is_dynamic()
        self._seen_so_far = 0
        # name -> [weighted sum, weight]; insertion order is display order.
        self._values = {}
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_width = 0

    def _is_averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Records progress and redraws the bar when due.

        Args:
            current: Number of steps done so far.
            values: List of `(name, value)` pairs for the latest step(s), or a
                dict.
            finalize: Whether this is the last update of the bar. `None` means
                `current >= target` (never, when the target is unknown).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        if isinstance(values, dict):
            values = values.items()
        for name, value in values or ():
            numeric = isinstance(value, numbers.Number)
            if numeric and self._is_averaged(name) and not finalize:
                # Weight by the steps this value covers, so irregular update
                # calls (every 3rd step, say) still give a per-step average.
                steps = max(current - self._seen_so_far, 1)
                total = self._values.setdefault(name, [0.0, 0])
                total[0] += value * steps
                total[1] += steps
            else:
                # The finalizing call carries the epoch's exact results, which
                # replace the running estimate; text is never averaged.
                self._values[name] = [value, 1]
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            self._draw_bar(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize:
            self._draw_summary(current, now, time_per_unit)

    def add(self, n, values=None):
        """Advances the bar by `n` steps.

        Args:
            n: Number of steps just done.
            values: As in `update`.
        """
        self.update(self._seen_so_far + n, values)

    def _metrics_text(self):
        parts = []
        for name, (total, count) in self._values.items():
            try:
                shown = total / max(count, 1)
            except TypeError:  # a non-numeric value (a string) shown as is
                shown = total
            parts.append(f" - {name}:{format_value(shown)}")
        return "".join(parts)

    def _count_text(self, current):
        digits = int(math.log10(self.target)) + 1
        return f"%{digits}d/%d" % (current, self.target)

    def _draw_bar(self, current, now, time_per_unit, finalize):
        if not finalize:
            # Static output gets only the final line; dynamic output is
            # throttled because redrawing costs more than a small step.
            if not self._dynamic_display or now - self._last_update < self.interval:
                return
        self._last_update = now
        styled = self._dynamic_display
        bold, reset = (_BOLD, _RESET) if styled else ("", "")

        known_target = self.target is not None and self.target > 0
        if known_target:
            done = min(int(self.width * current / self.target), self.width)
            count = f"{bold}{self._count_text(current)}{reset}"
            if styled:
                bar = f"{_GREEN}{_BAR_CHAR * done}{_RESET}" if done else ""
                bar += f"{_DIM}{_BAR_CHAR * (self.width - done)}{_RESET}"
            else:
                bar = _BAR_CHAR * done + " " * (self.width - done)
            line = f"{count} {bar}"
            plain_width = len(self._count_text(current)) + 1 + self.width
        else:
            line = "%7d/Unknown" % current
            plain_width = len(line)

        if known_target and not finalize:
            when = format_eta(time_per_unit * (self.target - current))
        else:
            when = f"{now - self._start:.0f}s"
        info = f" {bold}{when}{reset}"
        info += format_time_per_unit(time_per_unit, self.unit_name)
        info += self._metrics_text()
        plain_width += len(info) - len(bold) - len(reset)

        if styled:
            # Pad with spaces so a shorter line fully covers the previous one.
            padding = " " * max(self._prev_width - plain_width, 0)
            text = "\r" + line + info + padding
        else:
            text = line + info
        if finalize:
            text += "\n"
        _write(text)
        self._prev_width = plain_width

    def _draw_summary(self, current, now, time_per_unit):
        if self.target is not None and self.target > 0:
            head = f"{self._count_text(current)} - "
        else:
            head = f"{current} - "
        text = head + f"{now - self._start:.0f}s -"
        text += format_time_per_unit(time_per_unit, self.unit_name)
        text += self._metrics_text()
        _write(text + "\n")

    def _estimate_step_duration(self, current, now):
        """Seconds per step, leaving out the first step once there are others,
        because the first one pays for warm-up (allocation, caches)."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
