"""``fastnn bench``'s figures (isolated, its default) against the same work timed alone.

Part of ``pytest benchmarks`` (outside the default run); it needs a quiet machine and
takes a few minutes.  ``python benchmarks/check_bench_agreement.py`` prints the table.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("check_bench_agreement",
                                              os.path.join(HERE, "check_bench_agreement.py"))
agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agreement)


def test_each_isolated_figure_is_within_10_percent_of_the_work_timed_alone():
    from fastnn import threads

    rows, failures = agreement.check(threads.get_num_threads(), repeats=5, tolerance=0.10)
    assert rows, "nothing was measured"
    assert not failures["isolated"], "\n".join(
        f"{r['measurement']} / {r['contender']}: {r['isolated']:.1f} isolated, "
        f"{r['alone']:.1f} alone ({r['isolated_ratio']:.2f}x)" for r in failures["isolated"])
