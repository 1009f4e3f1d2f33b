"""``fastnn bench --only distributed`` and benchmarks/bench_distributed.py run (tiny
sizes: the numbers mean nothing here, only the structure is checked)."""

import pytest

pytest.importorskip("mpi4py")

from fastnn.bench import distributed, report, run  # noqa: E402


def test_measure_runs_the_three_configurations():
    doc = distributed.measure(samples_per_rank=4, steps=2, repeats=1, layers=(12, 8, 3))
    if doc["status"].startswith("skipped"):
        pytest.skip(doc["status"])
    assert doc["status"] == "ok"
    runs = {r["label"]: r for r in doc["runs"]}
    assert [r["ranks"] for r in doc["runs"]] == [1, 2, 1, 2]
    assert [r["threads"] for r in doc["runs"]] == [1, 1, 2, 1]
    assert [r["batch"] for r in doc["runs"]] == [4, 8, 8, 8]
    assert all(r["samples_per_s"] > 0 for r in doc["runs"])
    parallel = runs["2 ranks x 1 thread"]
    plain = runs["2 ranks x 1 thread, Allreduce"]
    assert parallel["reduction"] == "shared" and plain["reduction"] == "allreduce"
    for run in (parallel, plain):
        assert 0 < run["allreduce_share"] < 1 and 0 <= run["pack_share"] < 1
        assert run["allreduce_share"] + run["pack_share"] < 1
    assert doc["weak_scaling"] == pytest.approx(
        parallel["samples_per_s"] / (2 * runs["1 rank x 1 thread"]["samples_per_s"]))
    assert doc["weak_scaling_allreduce"] == pytest.approx(
        plain["samples_per_s"] / (2 * runs["1 rank x 1 thread"]["samples_per_s"]))
    assert doc["weak_scaling_steady"] == pytest.approx(
        parallel["steady_samples_per_s"]
        / (2 * runs["1 rank x 1 thread"]["steady_samples_per_s"]))
    for run in doc["runs"]:
        # the epoch bodies are part of the fits: never slower than them
        assert run["steady_samples_per_s"] >= run["samples_per_s"]
        assert len(run["timeline"]) == run["ranks"]
        for timeline in run["timeline"]:
            cpu, wall = zip(*timeline.values())
            assert all(t >= 0 for t in cpu) and all(t > 0 for t in wall)
            assert timeline["steps"][1] <= timeline["fit"][1]
            if run["ranks"] > 1:
                assert timeline["reduction"][1] <= timeline["steps"][1]
    assert "barriers" in parallel["timeline"][0] and "barriers" not in plain["timeline"][0]
    text = "\n".join(distributed.format_table(doc))
    assert "2 ranks x 1 thread" in text and "weak scaling" in text
    table = report._distributed_table(doc)
    assert len(table["rows"]) == 4 and table["header"][0] == "configuration"


def test_distributed_is_a_bench_section_run_only_when_asked():
    assert "distributed" in run.SECTIONS
    assert "distributed" not in run.DEFAULT_SECTIONS
    assert set(run.DISTRIBUTED_SIZES) == set(run.PRESETS)
