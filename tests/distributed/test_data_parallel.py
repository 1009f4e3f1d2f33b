"""Data-parallel fit / evaluate over MPI: each test launches ``mpiexec -n 2 python
worker.py ...`` and compares what the ranks wrote with each other and with one
process running the same script (worker.py without mpiexec).

Tolerances against one process (docs/distributed.md): float64 1e-9 relative; float32
1e-5 relative to each array's largest magnitude (the ranks add their shares' gradients
in another order than one matrix product does).  Between ranks: bit-identical.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastnn
from subproc import run_python

pytest.importorskip("mpi4py")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
MPIEXEC = (shutil.which("mpiexec")
           or shutil.which("mpiexec", path=os.path.dirname(sys.executable)))
if MPIEXEC is None:
    pytest.skip("mpiexec not found", allow_module_level=True)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
TIMEOUT = 60


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH"))
                                        if p)
    env.pop("OMP_NUM_THREADS", None)
    for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                 "SLURM_STEP_ID"):
        env.pop(name, None)
    return env


def launch(out, *args, ranks=2, check=True, env=None):
    """Run worker.py under mpiexec (ranks > 1) or alone; returns (process, seconds).
    ``env``: variables added to the environment."""
    command = [sys.executable, WORKER, *args[:1], str(out), *args[1:]]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    start = time.monotonic()
    proc = subprocess.run(command, env=dict(_env(), **(env or {})), cwd=str(out),
                          capture_output=True, text=True, timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, elapsed


def load(out, tag, rank):
    with np.load(os.path.join(out, f"{tag}-rank{rank}.npz")) as f:
        arrays = dict(f)
    with open(os.path.join(out, f"{tag}-rank{rank}.json")) as f:
        return arrays, json.load(f)


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def assert_close_arrays(got, want, dtype):
    for key in want:
        if dtype == "float64":
            np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12,
                                       err_msg=key)
        else:
            scale = max(np.abs(want[key]).max(), 1e-30)
            assert np.abs(got[key] - want[key]).max() <= 1e-5 * scale, key


def assert_close_logs(got, want, dtype):
    rtol = 1e-9 if dtype == "float64" else 1e-5
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, err_msg=key)


# --------------------------------------------------------------------- training
BUILDERS = ["mlp", "cnn"]


@pytest.fixture(scope="module", params=BUILDERS)
def trained(request, tmp_path_factory):
    """One mpiexec run and one single-process run of the training scenarios."""
    builder = request.param
    parallel = tmp_path_factory.mktemp(f"{builder}-parallel")
    single = tmp_path_factory.mktemp(f"{builder}-single")
    launch(parallel, "train", builder)
    launch(single, "train", builder, ranks=1)
    return builder, parallel, single


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ranks_bit_identical_and_equal_to_one_process(trained, dtype):
    builder, parallel, single = trained
    tag = f"{builder}-{dtype}"
    rank0, log0 = load(parallel, tag, 0)
    rank1, log1 = load(parallel, tag, 1)
    alone, log_alone = load(single, tag, 0)
    assert log0["size"] == 2 and log_alone["size"] == 1
    # the other rank started from scrambled weights: fit broadcasts rank 0's
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, dtype)
    # history (train and validation metrics, weighted ones too) and evaluate: the same
    # numbers on every rank, the single process's numbers
    assert log0["history"] == log1["history"]
    assert log0["evaluate"] == log1["evaluate"]
    assert_close_logs(log0["history"], log_alone["history"], dtype)
    assert_close_logs(log0["evaluate"], log_alone["evaluate"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_buffer_reduction_per_step(trained, dtype):
    builder, parallel, _ = trained
    arrays, log = load(parallel, f"{builder}-{dtype}", 0)
    n = 110 if dtype == "float64" else 101
    train_steps = 3 * -(-n // 25)
    test_steps = 3 * -(-37 // 25) + -(-37 // 17)  # validation each epoch, evaluate
    assert log["reductions"] == train_steps + test_steps
    # both ranks on this machine: the reduction goes through shared memory, no
    # Allreduce at all
    assert log["local_size"] == 2 and log["reduction"] == "shared"
    assert log["buffer_allreduces"] == 0
    assert log["pickled_allreduces"] == 0
    # besides: one int per fit and evaluate, the ranks agreeing their rows of x are
    # finite (each checks its share)
    assert log["flag_allreduces"] == 2
    params = sum(a.size for k, a in arrays.items() if k.startswith("w"))
    # the step buffer: every gradient, the loss and the metric state (accuracy and
    # weighted accuracy: a total and a count each)
    assert max(log["buffer_sizes"]) == params + 1 + 4


def test_batch_norm_moving_statistics_are_the_ranks_mean(trained):
    builder, parallel, _ = trained
    if builder != "mlp":
        pytest.skip("run once")
    rank0, _ = load(parallel, "bn", 0)
    rank1, _ = load(parallel, "bn", 1)
    assert_bit_identical(rank0, rank1)
    x = rank0["x"]
    shares = [x[:15], x[15:]]
    mean = np.mean([s.mean(axis=0) for s in shares], axis=0)
    var = np.mean([s.var(axis=0) for s in shares], axis=0)
    np.testing.assert_allclose(rank0["moving_mean"], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(rank0["moving_variance"], 0.9 + 0.1 * var, rtol=1e-12)
    # not the whole batch's variance: each rank normalizes its own share
    assert not np.allclose(rank0["moving_variance"], 0.9 + 0.1 * x.var(axis=0))


def test_dropout_masks_differ_per_rank_and_repeat(trained):
    builder, parallel, single = trained
    if builder != "mlp":
        pytest.skip("run once")
    rank0, _ = load(parallel, "dropout", 0)
    rank1, _ = load(parallel, "dropout", 1)
    alone, _ = load(single, "dropout", 0)
    for arrays in (rank0, rank1):
        assert np.array_equal(arrays["first"], arrays["again"])  # reproducible
    assert not np.array_equal(rank0["first"], rank1["first"])  # a mask per rank
    assert np.array_equal(rank0["first"], alone["first"])  # rank 0: the seed's own
    weights = {k: v for k, v in rank0.items() if k.startswith("w")}
    assert_bit_identical(weights, {k: rank1[k] for k in weights})


def test_threads_default_to_the_node_share(trained):
    builder, parallel, _ = trained
    if builder != "mlp":
        pytest.skip("run once")
    for rank in (0, 1):
        _, log = load(parallel, "threads", rank)
        assert log["local_size"] == 2
        assert log["default"] == max(1, log["usable"] // 2)
        assert log["set"] == 3  # set_num_threads overrides


@pytest.fixture(scope="module")
def trained_with_allreduce(tmp_path_factory):
    """The MLP scenarios reduced by plain Allreduce instead of shared memory."""
    out = tmp_path_factory.mktemp("mlp-allreduce")
    launch(out, "train", "mlp", env={"FASTNN_DISTRIBUTED_REDUCTION": "allreduce"})
    return out


@pytest.mark.parametrize("threads, reduction", [("1", "shared"), ("2", "allreduce")])
def test_replayed_step_plan_equals_the_ordinary_data_parallel_step(tmp_path, threads,
                                                                   reduction):
    # a plain Dense chain: each rank replays its recorded step plan, writing the
    # gradients straight into the step buffer (shared-memory slot or Allreduce buffer)
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "replay", threads,
           env={"FASTNN_DISTRIBUTED_REDUCTION": reduction})
    launch(single, "replay", threads, ranks=1)
    for dtype in ("float64", "float32"):
        rank0, log0 = load(parallel, f"replay-{dtype}", 0)
        rank1, log1 = load(parallel, f"replay-{dtype}", 1)
        alone, _ = load(single, f"replay-{dtype}", 0)
        assert log0["replayed"]["replays"] > 0 and log1["replayed"]["replays"] > 0
        assert log0["ordinary"]["replays"] == 0
        assert_bit_identical(rank0, rank1)
        # the replay makes the ordinary step's native calls on the same operands
        replayed = {k[len("replayed-"):]: v for k, v in rank0.items()
                    if k.startswith("replayed-")}
        ordinary = {k[len("ordinary-"):]: v for k, v in rank0.items()
                    if k.startswith("ordinary-")}
        assert_bit_identical(replayed, ordinary)
        assert log0["replayed"]["history"] == log0["ordinary"]["history"]
        assert log0["replayed"]["history"] == log1["replayed"]["history"]
        assert_close_arrays(replayed, {k[len("ordinary-"):]: v for k, v in alone.items()
                                       if k.startswith("ordinary-")}, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_allreduce_path_counts_one_allreduce_per_step(trained_with_allreduce, dtype):
    arrays, log = load(trained_with_allreduce, f"mlp-{dtype}", 0)
    assert log["reduction"] == "allreduce"
    assert log["buffer_allreduces"] == log["reductions"] > 0
    assert log["pickled_allreduces"] == 0
    assert log["flag_allreduces"] == 2  # fit's and evaluate's input checks


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_shared_memory_sum_equals_allreduce_bit_for_bit(trained, trained_with_allreduce,
                                                        dtype):
    builder, parallel, _ = trained
    if builder != "mlp":
        pytest.skip("the Allreduce run trains the MLP")
    # two ranks: each element is a + b either way, and float addition commutes, so the
    # two reductions must agree exactly, every step, hence in the trained weights
    shared, log_shared = load(parallel, f"mlp-{dtype}", 0)
    plain, log_plain = load(trained_with_allreduce, f"mlp-{dtype}", 1)
    assert_bit_identical(shared, plain)
    assert log_shared["history"] == log_plain["history"]


@pytest.mark.parametrize("env", [
    # two "nodes" of two ranks: each node rank reduces its slice across the nodes
    {"FASTNN_DISTRIBUTED_RANKS_PER_NODE": "2"},
    # "nodes" of 3 and 1 ranks: the node leaders reduce the whole node sums
    {"FASTNN_DISTRIBUTED_RANKS_PER_NODE": "3"},
])
def test_several_nodes_reduce_hierarchically(tmp_path, env):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "weights", ranks=4, env=env)
    launch(single, "weights", ranks=1)
    alone, _ = load(single, "weights", 0)
    ranks = [load(parallel, "weights", r) for r in range(4)]
    local_sizes = [log["local_size"] for _, log in ranks]
    assert local_sizes == ([2, 2, 2, 2] if env["FASTNN_DISTRIBUTED_RANKS_PER_NODE"] == "2"
                           else [3, 3, 3, 1])
    for arrays, log in ranks:
        assert log["size"] == 4
        assert_bit_identical(arrays, ranks[0][0])
        assert log["history"] == ranks[0][1]["history"]
    assert_close_arrays(ranks[0][0], alone, "float64")


def test_train_and_test_on_batch_take_their_share_of_the_global_batch(tmp_path):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "on_batch")
    launch(single, "on_batch", ranks=1)
    rank0, log0 = load(parallel, "on_batch", 0)
    rank1, log1 = load(parallel, "on_batch", 1)
    alone, log_alone = load(single, "on_batch", 0)
    # rank 1 started from other weights: the first call broadcast rank 0's
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, "float64")
    assert log0["train"] == log1["train"] and log0["test"] == log1["test"]
    assert len(log0["train"]) == 6 and len(log0["test"]) == 3
    for got, want in zip(log0["train"] + log0["test"], log_alone["train"] + log_alone["test"]):
        assert_close_logs(got, want, "float64")
    # rank 1's set_weights was undone by the broadcast: the same result as before
    assert log1["test"][2] == log1["test"][1]
    assert log0["test"][0] != log0["test"][1]  # before and after training
    assert log0["generation"] == 2  # the segments grew once, the small layout was redone


def test_a_later_fit_broadcasts_only_when_a_rank_changed_its_model(tmp_path):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "refit")
    launch(single, "refit", ranks=1)
    rank0, log0 = load(parallel, "refit", 0)
    rank1, log1 = load(parallel, "refit", 1)
    alone, _ = load(single, "refit", 0)
    # the first fit (rank 1 scrambled) and each fit after rank 1 changed something:
    # set_weights, one kernel value, one Adam moment, the step count; none otherwise
    assert log0["changes"] == [None, None, "set_weights", "kernel", "adam m",
                               "iterations", None]
    assert log0["broadcasts"] == log1["broadcasts"] == [1, 0, 1, 1, 1, 1, 0]
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, "float64")


def test_bad_input_in_one_ranks_rows_raises_one_process_error_on_every_rank(tmp_path):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "bad_input")
    launch(single, "bad_input", ranks=1)
    rank0, log0 = load(parallel, "bad_input", 0)
    rank1, log1 = load(parallel, "bad_input", 1)
    alone, log_alone = load(single, "bad_input", 0)
    assert len(log_alone["messages"]) == 6
    assert all(log_alone["messages"].values())  # one process refused every case
    assert log0["messages"] == log1["messages"] == log_alone["messages"]
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, "float32")


# --------------------------------------------------------------------- callbacks, files
def test_callbacks_decide_alike_and_rank_0_writes(tmp_path):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    launch(parallel, "files")  # rank 1 fails if it writes a file (worker.ForbidWrites)
    launch(single, "files", ranks=1)
    rank0, log0 = load(parallel, "files", 0)
    rank1, log1 = load(parallel, "files", 1)
    alone, log_alone = load(single, "files", 0)
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, "float64")
    # EarlyStopping stopped, ReduceLROnPlateau lowered the rate: at the same epoch
    # everywhere, the same epoch as one process
    assert log0["history"] == log1["history"]
    assert_close_logs(log0["history"], log_alone["history"], "float64")
    assert len(log0["history"]["loss"]) < 30
    assert log0["lr"] == log1["lr"] == log_alone["lr"] < 1e-3
    # the files exist (written once, by rank 0) and every rank read the model back
    epochs = len(log0["history"]["loss"])
    assert sorted(p.name for p in parallel.glob("ckpt-*")) == sorted(
        f"ckpt-{e}.fastnn" for e in range(1, epochs + 1))
    with open(parallel / "log.csv") as f:
        assert len(f.read().strip().splitlines()) == epochs + 1
    np.testing.assert_array_equal(rank1["loaded_predict"], rank1["predict"])
    # the progress bar: rank 0 only
    assert "Epoch 1/30" in (parallel / "stdout-rank0.txt").read_text()
    assert (parallel / "stdout-rank1.txt").read_text() == ""


def test_backup_and_restore_resume_equals_an_uninterrupted_run(tmp_path):
    parallel, single = tmp_path / "parallel", tmp_path / "single"
    parallel.mkdir()
    single.mkdir()
    proc, elapsed = launch(parallel, "resume", "interrupted", check=False)
    assert proc.returncode != 0
    assert "rank 0 of 2 failed" in proc.stderr and "injected interruption" in proc.stderr
    assert (parallel / "backup" / "latest.fastnn").exists()
    launch(parallel, "resume", "resumed")
    launch(single, "resume", "uninterrupted", ranks=1)
    rank0, log0 = load(parallel, "resume", 0)
    rank1, _ = load(parallel, "resume", 1)
    alone, log_alone = load(single, "resume", 0)
    assert_bit_identical(rank0, rank1)
    assert_close_arrays(rank0, alone, "float64")
    assert len(log0["history"]["loss"]) == 2  # epochs 3 and 4 only: it resumed
    np.testing.assert_allclose(log0["history"]["loss"], log_alone["history"]["loss"][2:],
                               rtol=1e-9)


# --------------------------------------------------------------------- faults
def test_an_exception_on_one_rank_ends_every_rank(tmp_path):
    proc, elapsed = launch(tmp_path, "fault", "exception", check=False)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed" in proc.stderr
    assert "ValueError: injected fault on rank 1" in proc.stderr
    assert elapsed < 20
    assert not list(tmp_path.glob("fault-*"))  # no rank finished the 50 epochs


def test_a_killed_rank_ends_every_rank(tmp_path):
    proc, elapsed = launch(tmp_path, "fault", "kill", check=False)
    assert proc.returncode != 0
    assert elapsed < 20
    assert not list(tmp_path.glob("fault-*"))


def test_terminate_on_nan_stops_every_rank_at_the_same_batch(tmp_path):
    launch(tmp_path, "fault", "nan")
    _, log0 = load(tmp_path, "fault-nan", 0)
    _, log1 = load(tmp_path, "fault-nan", 1)
    assert log0["batches"] == log1["batches"] < 10  # stopped in the first epoch
    assert log0["epochs"] == log1["epochs"] == 1


# --------------------------------------------------------------------- without MPI
def test_initialize_outside_a_launcher_is_a_no_op_without_mpi4py():
    code = ("import sys; sys.modules['mpi4py'] = None; import fastnn; "
            "assert 'mpi4py' not in [m for m in sys.modules if sys.modules[m]]; "
            "print(fastnn.distributed.initialize(), fastnn.distributed.size(), "
            "fastnn.distributed.rank(), fastnn.distributed.local_size(), "
            "fastnn.distributed.is_primary(), fastnn.distributed.barrier())")
    proc = run_python(["-c", code], env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1", "0", "1", "True", "None"]


def test_import_fastnn_does_not_import_mpi4py():
    proc = run_python(["-c", "import sys, fastnn; print('mpi4py' in sys.modules)"],
                      env=_env())
    assert proc.stdout.strip() == "False", proc.stderr


def test_initialize_under_a_launcher_without_mpi4py_says_how_to_get_it():
    env = dict(_env(), PMI_RANK="0", PMI_SIZE="2")
    code = ("import sys; sys.modules['mpi4py'] = None; import fastnn; "
            "fastnn.distributed.initialize()")
    proc = run_python(["-c", code], env=env)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "pip install 'fastnn[mpi]'" in proc.stderr


def test_rank_seed_is_the_seed_outside_a_job():
    assert fastnn.distributed.rank_seed(12345) == 12345
