"""The packer alone (no TensorFlow): which trials it groups, how far ahead it asks, what it holds back."""

from __future__ import annotations

from collections import deque

from harness.config import schema
from harness.config.plan import TrialSpec
from harness.training.fusion import packing


def spec(tid: str, **model) -> TrialSpec:
    return TrialSpec(tid, tid, {}, 0, schema.from_dict({"model": {"family": "mlp", "hidden": [64], **model}}))


class Script:
    """A strategy handing out a fixed list, counting asks."""

    def __init__(self, specs, chooses=False):
        self.queue, self.chooses, self.asked = deque(specs), chooses, 0

    def ask(self):
        self.asked += 1
        return self.queue.popleft() if self.queue else None


def ids(unit):
    return [s.trial_id for s in packing.members(unit)]


def test_a_planned_sweep_is_packed_by_what_may_fuse_in_plan_order():
    plan = [spec("a1"), spec("b1", hidden=[32]), spec("a2"), spec("c", family="cnn"), spec("b2", hidden=[32]),
            spec("a3")]
    packer = packing.Packer(Script(plan), most=2)
    units = [ids(u) for u in iter(packer.ask, None)]
    assert units == [["a1", "a2"], ["b1", "b2"], ["c"], ["a3"]]
    assert packing.plan_line(plan, 2, False) == "fusion: 5 trials in 3 fused groups (at most 2 each), 1 trained alone"


def test_a_choosing_strategy_is_asked_at_most_one_group_ahead():
    strategy = Script([spec(f"t{i}", hidden=[16 * (i % 3 + 1)]) for i in range(9)], chooses=True)
    unit = packing.Packer(strategy, most=3).ask()
    assert ids(unit) == ["t0", "t3"] and strategy.asked == 4  # its first, then 3 more (one fits), no further


def test_auto_fuses_wide_mlps_too_and_off_fuses_nothing():
    wide = [spec("w1", hidden=[512]), spec("w2", hidden=[512])]
    assert ids(packing.Packer(Script(wide), packing.limit("auto")).ask()) == ["w1", "w2"]
    assert ids(packing.Packer(Script([spec("a"), spec("b")]), packing.limit("off")).ask()) == ["a"]
