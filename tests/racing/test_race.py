"""The race (harness/racing/rounds.py), the Confirm strategy and sweep.confirm's validation, without training."""

import pytest

from harness.racing import verdict
from harness.config.plan import Planner
from harness.config.validate import ConfigError
from harness.record import FAILED, OK, TrialRecord
from harness.racing import confirm, rounds
from harness.search.pruners import Pruner
from harness.search.strategies import strategy_for

RULES = rounds.Rules(top=3, max_repeats=6, alpha=0.05)
GOOD = [0.98, 0.981, 0.979, 0.9805, 0.9795, 0.98]
BAD = [0.90, 0.901, 0.899, 0.9005, 0.8995, 0.90]
CLOSE = [0.9801, 0.9799, 0.9800, 0.9802, 0.9798, 0.9800]


def by_rep(values, upto):
    return dict(enumerate(values[:upto]))


def test_a_clearly_worse_setting_is_dropped_and_the_rest_race_to_max_repeats():
    r = rounds.replay(["a", "b", "c"], {"a": by_rep(GOOD, 6), "b": by_rep(BAD, 6), "c": by_rep(CLOSE, 6)}, 2, RULES)
    assert r.ended == rounds.MAX_REPEATS and r.seeds == 6 and set(r.survivors) == {"a", "c"}
    assert r.eliminated["b"] < 6 and r.wanted() == []


def test_the_race_waits_for_its_round_and_asks_for_the_next_seed():
    r = rounds.replay(["a", "c"], {"a": by_rep(GOOD, 3), "c": by_rep(CLOSE, 2)}, 2, RULES)
    assert r.ended is None and r.seeds == 3 and ("c", 2) in r.wanted() and ("a", 2) in r.wanted()


def test_one_left_and_tied_end_the_race():
    one = rounds.replay(["a", "b"], {"a": by_rep(GOOD, 6), "b": by_rep(BAD, 6)}, 2, RULES)
    assert one.ended == rounds.ONE_LEFT and one.survivors == ["a"] and one.seeds == one.eliminated["b"]
    tie_rules = rounds.Rules(top=2, max_repeats=6, alpha=0.05, min_delta=0.005)
    tie = rounds.replay(["a", "c"], {"a": by_rep(GOOD, 6), "c": by_rep(CLOSE, 6)}, 2, tie_rules)
    assert tie.ended == rounds.TIED and tie.seeds < 6


def test_a_contender_whose_trials_all_failed_leaves_the_race():
    r = rounds.replay(["a", "b"], {"a": by_rep(GOOD, 2), "b": {0: None, 1: None}}, 2, RULES)
    assert r.failed == ["b"] and r.ended == rounds.ONE_LEFT


def test_each_round_spends_a_share_of_alpha():
    assert RULES.round_alpha(2) == pytest.approx(0.05 / 5)
    assert rounds.Rules(max_repeats=3).round_alpha(1) == pytest.approx(0.05 / 2)


def raw(**confirm_section):
    return {"name": "t", "data": {"limit": 100}, "train": {"epochs": 1},
            "sweep": {"repeats": 2, "parameters": {"train.lr": [0.001, 0.01, 0.1]}, "confirm": confirm_section}}


@pytest.mark.parametrize("section, message", [
    ({"top": 1}, r"sweep.confirm.top = 1: must be >= 2"),
    ({"max_repeats": 2}, r"sweep.confirm.max_repeats = 2: must be more than sweep.repeats \(2\)"),
    ({"alpha": 0.7}, r"sweep.confirm.alpha = 0.7: must be > 0 and < 0.5"),
    ({"min_delta": -1}, r"sweep.confirm.min_delta = -1.0: must be >= 0"),
    ({"tpo": 3}, r"sweep.confirm.tpo: unknown key; did you mean 'top'\?"),
])
def test_bad_confirm_sections_are_refused_by_key(section, message):
    with pytest.raises(ConfigError, match=message):
        Planner(raw(**section))


def test_confirm_refuses_a_test_metric_and_a_seed_past_the_maximum():
    bad = raw()
    bad["sweep"]["metric"] = {"name": "test_accuracy"}
    with pytest.raises(ConfigError, match="confirm races on the metric"):
        Planner(bad)
    late = raw(max_repeats=10)
    late["train"]["seed"] = 2**32 - 5
    with pytest.raises(ConfigError, match=r"10 seeds \(sweep.confirm.max_repeats\)"):
        strategy_for(Planner(late)).planned()


def finished(planner, settings, rep, value, status=OK):
    spec = planner.spec(settings, rep)
    record = TrialRecord.of(spec)
    record.status, record.best_val_accuracy = status, value if status == OK else None
    return spec, record


class Ruthless(Pruner):
    """Stops every trial it is asked about."""

    active = True

    def report(self, spec, epoch, metrics):
        return True


def test_confirm_runs_the_search_then_the_race_round_by_round():
    planner = Planner(raw(top=2, max_repeats=4))
    strategy = confirm.wrap(strategy_for(planner))
    search = strategy.planned()
    strategy.start(search, [])
    started = [strategy.ask() for _ in range(len(search))]
    assert started == search and strategy.ask() is None  # the search runs; the race waits for all of it
    values = {0.001: GOOD, 0.01: CLOSE, 0.1: BAD}
    for spec in started[:-1]:
        strategy.tell(spec, finished(planner, spec.settings, spec.repeat, values[spec.settings["train.lr"]][spec.repeat])[1])
    assert strategy.ask() is None
    last = started[-1]
    strategy.tell(last, finished(planner, last.settings, last.repeat, values[last.settings["train.lr"]][last.repeat])[1])
    round_one = [strategy.ask(), strategy.ask()]
    assert strategy.ask() is None  # the round is running
    assert {(s.group, s.repeat, s.trial_id.endswith(",rep=2")) for s in round_one} == {("lr=0.001", 2, True), ("lr=0.01", 2, True)}
    assert {s.config.train.seed for s in round_one} == {2}
    pruner = confirm.search_pruner(Ruthless(), planner.config.sweep)
    assert pruner.active and pruner.report(search[0], 1, {}) and not pruner.report(round_one[0], 1, {})
    strategy.retry(round_one[0])  # a lost worker: the same trial again, first
    assert strategy.ask() == round_one[0]
    for spec in round_one:
        strategy.tell(spec, finished(planner, spec.settings, 2, values[spec.settings["train.lr"]][2])[1])
    round_two = [strategy.ask(), strategy.ask()]
    assert {s.repeat for s in round_two} == {3} and strategy.ask() is None


def test_the_race_resumes_from_records_without_training_a_finished_trial_again():
    planner = Planner(raw(top=2, max_repeats=4))
    values = {0.001: GOOD, 0.01: CLOSE, 0.1: BAD}
    strategy = confirm.wrap(strategy_for(planner))
    known = [finished(planner, s.settings, s.repeat, values[s.settings["train.lr"]][s.repeat])
             for s in strategy.planned()]
    known.append(finished(planner, {"train.lr": 0.001}, 2, GOOD[2]))  # the round half done when the sweep was killed
    strategy.start([], known)
    spec = strategy.ask()
    assert (spec.group, spec.repeat) == ("lr=0.01", 2) and strategy.ask() is None
    failed = finished(planner, spec.settings, 2, None, FAILED)[1]
    strategy.tell(spec, failed)  # a failed seed counts as spent, without a value
    assert {s.repeat for s in (strategy.ask(), strategy.ask())} == {3}


def test_the_verdict_says_a_tie_and_its_cost_or_the_winner_and_by_how_much():
    planner = Planner(raw(top=2, max_repeats=6, min_delta=0.005))
    values, seconds = {0.001: GOOD, 0.01: CLOSE, 0.1: BAD}, {0.001: 10.0, 0.01: 6.0, 0.1: 5.0}
    records = []
    for lr in values:
        for rep in range(6):
            record = finished(planner, {"train.lr": lr}, rep, values[lr][rep])[1]
            record.train_seconds, record.test_accuracy, record.epochs_run = seconds[lr], 0.5, 1
            records.append(record)
    tie = verdict.build(confirm.replay(planner, records), records, "best_val_accuracy")
    assert tie["ended"] == rounds.TIED and tie["state"] == "done"
    assert tie["verdict"].startswith(f"lr=0.001 and lr=0.01 are tied within 0.005 at {tie['seeds_each']} seeds each; "
                                     "lr=0.01 costs 40% less training time.")
    assert "for information (never used to decide): lr=0.001 0.5000, lr=0.01 0.5000" in tie["verdict"]
    assert tie["confirmation_trials"] == 2 * (tie["seeds_each"] - 2)

    won = verdict.build(rounds.replay(["lr=0.001", "lr=0.1"], confirm.results(records, "best_val_accuracy"), 2,
                                    rounds.Rules(2, 6)), records, "best_val_accuracy")
    assert won["ended"] == rounds.ONE_LEFT and won["verdict"].startswith("Winner lr=0.001: best_val_accuracy 0.9805 at 2 seeds")
    loser = won["contenders"][1]
    assert loser["leader_better_by"] == pytest.approx(0.08) and loser["ci95"][0] > 0 and loser["eliminated_after_seeds"]
    assert f"dropped after {loser['eliminated_after_seeds']} seeds" in won["verdict"]


def test_no_verdict_and_the_whole_race_ahead_while_the_search_is_unfinished():
    planner = Planner(raw(top=2, max_repeats=4))
    strategy = confirm.wrap(strategy_for(planner))
    half = [finished(planner, s.settings, s.repeat, GOOD[s.repeat])[1] for s in strategy.planned()[:4]]
    assert strategy.race(half) is None and strategy.trials_left(half + [None, None]) == 2 * 2


def test_compare_says_a_damaged_verdict_file_without_failing(tmp_path):
    from harness.analysis.compare import confirmed

    assert confirmed(tmp_path) is None
    (tmp_path / "confirm.json").write_text("{not json")
    assert "cannot be read" in confirmed(tmp_path) and "python -m harness confirm" in confirmed(tmp_path)


def test_compare_says_a_deeply_nested_verdict_file_without_failing(tmp_path):
    from harness.analysis.compare import confirmed

    (tmp_path / "confirm.json").write_text("[" * 100000 + "]" * 100000)  # issue 29.6: a RecursionError before
    assert "cannot be read (RecursionError)" in confirmed(tmp_path)


@pytest.mark.parametrize("damage", [b"sweep: " + b"[" * 100000 + b"]" * 100000, b"name: \xff\xfe sweep\n"])
def test_confirm_on_a_damaged_sweep_yaml_says_so_in_one_line(tmp_path, damage, capsys):
    from harness.cli import confirm_main

    run_dir = tmp_path / "runs" / "e"  # issue 29.11: a RecursionError and a UnicodeDecodeError traceback before
    run_dir.mkdir(parents=True)
    (run_dir / "sweep.yaml").write_bytes(damage)
    assert confirm_main([str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml: cannot read the sweep's config" in err and "Traceback" not in err
