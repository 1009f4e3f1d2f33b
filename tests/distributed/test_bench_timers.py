"""The arithmetic of the distributed benchmark's allreduce / packing shares (no MPI
needed): the timers hold one epoch's totals, and each epoch's totals are compared with
that epoch's duration."""

import pytest

from fastnn.bench import distributed


class _Clock:
    """A perf_counter that advances only when told to."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _fake_data_parallel(clock):
    class FakeDataParallel:
        def reduce_step(self, grads):
            clock.now += 1.0  # packing
            self._reduce_tail(grads)
            clock.now += 0.5  # unpacking, bookkeeping: counted with packing
            return grads

        def _reduce_tail(self, grads):
            clock.now += 3.0  # the reduction

    return FakeDataParallel


def test_step_timers_hold_one_epoch_and_reset(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(distributed.time, "perf_counter", clock)
    cls = _fake_data_parallel(clock)
    timers = distributed._StepTimers(cls)
    dp = cls()
    for _ in range(4):
        dp.reduce_step(None)
    assert timers.allreduce == pytest.approx(12.0)
    assert timers.pack == pytest.approx(6.0)
    timers.reset()
    dp.reduce_step(None)
    assert timers.allreduce == pytest.approx(3.0)
    assert timers.pack == pytest.approx(1.5)


def test_step_shares_compare_each_epoch_with_its_own_duration():
    # three epochs of 10 s, 12 s, 8 s, each spending 3 s, 3.6 s, 2.4 s reducing: 30 %
    shares = distributed.step_shares([10.0, 12.0, 8.0], [3.0, 3.6, 2.4], [1.0, 1.2, 0.8])
    assert shares["allreduce_share"] == pytest.approx(0.3)
    assert shares["pack_share"] == pytest.approx(0.1)
    # the share does not depend on how many epochs were timed
    one = distributed.step_shares([10.0], [3.0], [1.0])
    assert one["allreduce_share"] == pytest.approx(0.3)


def test_step_shares_refuse_mismatched_lists():
    with pytest.raises(ValueError, match="one allreduce and one pack time per timed epoch"):
        distributed.step_shares([1.0, 2.0], [0.1], [0.1, 0.1])
    with pytest.raises(ValueError, match="received 0 epochs"):
        distributed.step_shares([], [], [])
