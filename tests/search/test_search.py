"""Strategies and pruners without training: recorded epoch histories replayed through the pruners, TPE asks."""

from __future__ import annotations

import itertools
import random

import pytest

from harness.config.plan import Planner
from harness.layout import Workspace
from harness.record import OK, PRUNED, TrialRecord
from harness.search.pruners import pruner_for
from harness.search.strategies import strategy_for
from tiny import TINY, merge

# Validation accuracy per epoch of nine trials, as a sweep of learning rates recorded them (lr -> curve).
CURVES = {
    0.3: [0.952, 0.965, 0.971, 0.974], 0.1: [0.948, 0.963, 0.969, 0.973], 0.03: [0.931, 0.954, 0.962, 0.967],
    0.01: [0.902, 0.931, 0.945, 0.953], 0.003: [0.861, 0.899, 0.914, 0.925], 0.001: [0.801, 0.852, 0.877, 0.891],
    0.0003: [0.601, 0.743, 0.801, 0.834], 0.0001: [0.313, 0.497, 0.606, 0.688], 3e-05: [0.112, 0.181, 0.262, 0.34],
}
BEST, WORST = 0.3, 3e-05


class Replay:
    """A grid strategy and its pruner, driven as the scheduler drives them."""

    def __init__(self, strategy, pruner):
        self.strategy, self.pruner = strategy, pruner

    def ask(self):
        return self.strategy.ask()

    def report(self, spec, epoch, metrics) -> bool:
        return self.pruner.report(spec, epoch, metrics)

    def tell(self, spec, record) -> None:
        self.strategy.tell(spec, record)
        self.pruner.tell(spec, record)


def _search(tmp_path, pruner: dict, known=()):
    raw = merge(TINY, {"name": "replay", "train": {"epochs": 4},
                       "sweep": {"parameters": {"train.lr": list(CURVES)}, "pruner": pruner}})
    planner = Planner(raw)
    paths = Workspace(tmp_path / "runs", tmp_path / "ev").sweep("replay")
    strategy = strategy_for(planner, paths)
    specs = {s.settings["train.lr"]: s for s in strategy.planned()}
    todo = [s for lr, s in specs.items() if lr not in dict(known)]
    records = [(specs[lr], record) for lr, record in known]
    strategy.start(todo, records)
    return Replay(strategy, pruner_for(planner.config.sweep, paths, records)), specs


def _replay(search, order: list[float], interleave: bool) -> dict[float, int]:
    """Run the trials in `order` through the strategy; returns lr -> epochs trained (4 = not pruned).

    Sequential: each trial runs to its end before the next starts (one worker). Interleaved: all
    trials start, then their epochs arrive round-robin (many workers, epoch by epoch)."""
    started = {}
    while (spec := search.ask()) is not None:
        started[spec.settings["train.lr"]] = spec
    assert sorted(started) == sorted(order)
    trained = {lr: 0 for lr in order}
    stopped: set[float] = set()
    rounds = ([[lr] * 4 for lr in order] if not interleave else [order] * 4)
    for lr in itertools.chain.from_iterable(rounds):
        if lr in stopped:
            continue
        epoch = trained[lr] = trained[lr] + 1
        if search.report(started[lr], epoch, {"val_accuracy": CURVES[lr][epoch - 1]}) or epoch == 4:
            stopped.add(lr)
            status = OK if epoch == 4 else PRUNED
            search.tell(started[lr], TrialRecord(trial_id=started[lr].trial_id, experiment="replay", status=status,
                                                 best_val_accuracy=max(CURVES[lr][:epoch]), epochs_run=epoch))
    return trained


ORDERS = {"best first": sorted(CURVES, reverse=True), "worst first": sorted(CURVES),
          **{f"shuffled {seed}": random.Random(seed).sample(list(CURVES), len(CURVES)) for seed in range(3)}}


@pytest.mark.parametrize("interleave", [False, True], ids=["one worker", "many workers"])
@pytest.mark.parametrize("order", ORDERS, ids=list(ORDERS))
def test_asha_keeps_the_best_and_stops_most_of_the_rest(tmp_path, order, interleave):
    search, _ = _search(tmp_path, {"kind": "asha", "min_epochs": 1, "reduction_factor": 3})
    trained = _replay(search, ORDERS[order], interleave)
    assert trained[BEST] == 4  # the best trial is never stopped, whatever the order
    for lr, epochs in trained.items():  # a trial is stopped only when a better one was seen at that epoch
        assert epochs == 4 or any(CURVES[other][epochs - 1] > CURVES[lr][epochs - 1] for other in CURVES)
    if order == "worst first":
        assert sum(trained.values()) == 4 * len(CURVES)  # each trial beats all before it: nothing to stop
    else:
        assert sum(trained.values()) <= 0.6 * 4 * len(CURVES), trained  # most of the full budget saved
    if order == "best first":
        assert trained[WORST] == 1  # seen after the best at the first rung: stopped there


def test_median_pruner_stops_below_median_after_warmup(tmp_path):
    search, _ = _search(tmp_path, {"kind": "median", "warmup_epochs": 1, "startup_trials": 3})
    order = [0.03, 0.001, 0.1, 0.0001, 0.01, 0.3, 3e-05, 0.003, 0.0003]
    trained = _replay(search, order, interleave=False)
    assert [trained[lr] for lr in order[:3]] == [4, 4, 4]  # the startup trials are never judged
    assert trained[0.0001] == 2 and trained[3e-05] == 2  # below the median at epoch 2: the first judged epoch
    assert trained[0.3] == 4  # above the median at every epoch: runs to the end
    assert trained[0.01] == 2  # 0.931 at epoch 2, below the median of the finished trials then (0.954)


def test_a_search_rebuilt_from_records_judges_as_the_live_one(tmp_path):
    """Resume: finished trials come back from their records and history.csv, and decide the same."""
    live, _ = _search(tmp_path / "live", {"kind": "asha", "min_epochs": 1, "reduction_factor": 3})
    order = sorted(CURVES, reverse=True)
    first = _replay(live, order, interleave=False)

    # The first five trials as a sweep left them on disk, then a new search for the other four.
    paths = Workspace(tmp_path / "disk" / "runs", tmp_path / "disk" / "ev").sweep("replay")
    known = []
    for i, lr in enumerate(order[:5]):
        spec_id = f"lr={lr!r}"
        (paths.trial(spec_id).run_dir).mkdir(parents=True)
        rows = "\n".join(f"{e},{CURVES[lr][e - 1]}" for e in range(1, first[lr] + 1))
        paths.trial(spec_id).history.write_text("epoch,val_accuracy\n" + rows + "\n")
        status = OK if first[lr] == 4 else PRUNED
        known.append((lr, TrialRecord(trial_id=spec_id, experiment="replay", status=status, started=f"t{i}",
                                      best_val_accuracy=max(CURVES[lr][:first[lr]]), epochs_run=first[lr])))
    rebuilt, _ = _search(tmp_path / "disk", {"kind": "asha", "min_epochs": 1, "reduction_factor": 3}, known)
    rest = _replay(rebuilt, order[5:], interleave=False)
    assert rest == {lr: first[lr] for lr in order[5:]}


def test_tpe_asks_new_settings_within_budget_and_the_same_ones_after_a_restart(tmp_path):
    raw = merge(TINY, {"name": "tpe", "sweep": {"method": "tpe", "trials": 8, "seed": 3, "parameters": {
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 0.3},
        "model.hidden": [[16], [64, 32]], "train.batch_size": {"distribution": "int_uniform", "min": 32, "max": 256}}}})
    planner = Planner(raw)
    paths = Workspace(tmp_path / "runs", tmp_path / "ev").sweep("tpe")
    assert strategy_for(planner, paths).planned() == []  # nothing planned: settings are chosen as results come in

    def search(known):
        strategy = strategy_for(planner, paths)
        strategy.start([], known)
        return strategy

    def score(spec):  # a made-up landscape: larger lr is better, up to a point
        return 0.9 - abs(spec.settings["train.lr"] - 0.05)

    def run(search, n):
        asked = []
        for _ in range(n):
            spec = search.ask()
            if spec is None:
                break
            asked.append(spec)
            search.tell(spec, TrialRecord(trial_id=spec.trial_id, experiment="tpe", status=OK,
                                          best_val_accuracy=score(spec), started=f"{len(asked):03d}"))
        return asked

    whole = run(search([]), 20)
    assert len(whole) == 8 and len({s.group for s in whole}) == 8  # the budget, no setting twice
    for s in whole:
        assert 1e-4 <= s.settings["train.lr"] <= 0.3 and 32 <= s.settings["train.batch_size"] <= 256
        assert isinstance(s.settings["train.batch_size"], int) and s.settings["model.hidden"] in ((16,), (64, 32))

    # Stopped after five, restarted from the records: the same next settings.
    first = whole[:5]
    known = [(s, TrialRecord(trial_id=s.trial_id, experiment="tpe", status=OK, best_val_accuracy=score(s),
                             started=f"{i + 1:03d}")) for i, s in enumerate(first)]
    resumed = run(search(known), 20)
    assert [s.trial_id for s in resumed] == [s.trial_id for s in whole[5:]]
