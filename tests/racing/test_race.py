"""The race (harness/racing/rounds.py), the Confirm strategy and sweep.confirm's validation, without training."""

import pytest

from harness.racing import verdict
from harness.config.plan import Planner
from harness.layout import Workspace
from harness.config.validate import ConfigError
from harness.record import FAILED, OK, TrialRecord
from harness.racing import confirm, rounds
from harness.search.pruners import Pruner
from harness.search.strategies import strategy_for

RULES = rounds.Rules(top=3, max_repeats=6, alpha=0.05)  # min_delta 0.2 points
RULES0 = rounds.Rules(top=3, max_repeats=6, alpha=0.05, min_delta=0.0)
GOOD = [0.98, 0.981, 0.979, 0.9805, 0.9795, 0.98]
BAD = [0.90, 0.901, 0.899, 0.9005, 0.8995, 0.90]
CLOSE = [0.9801, 0.9799, 0.9800, 0.9802, 0.9798, 0.9800]


def by_rep(values, upto):
    return dict(enumerate(values[:upto]))


def test_a_clearly_worse_setting_is_dropped_and_the_rest_race_to_max_repeats():
    r = rounds.replay(["a", "b", "c"], {"a": by_rep(GOOD, 6), "b": by_rep(BAD, 6), "c": by_rep(CLOSE, 6)}, 2, RULES0)
    assert r.ended == rounds.MAX_REPEATS and r.seeds == 6 and set(r.survivors) == {"a", "c"}
    assert r.eliminated == {"b": 4} and r.wanted() == [] and [seeds for seeds, _ in r.rounds] == [4, 6]


def test_the_race_waits_for_its_round_and_asks_for_the_seeds_up_to_the_next_look():
    r = rounds.replay(["a", "c"], {"a": by_rep(GOOD, 3), "c": by_rep(CLOSE, 2)}, 2, RULES)
    assert r.ended is None and r.seeds == 4 and {("c", 2), ("c", 3), ("a", 3)} <= set(r.wanted())


def test_one_left_and_tied_end_the_race():
    one = rounds.replay(["a", "b"], {"a": by_rep(GOOD, 6), "b": by_rep(BAD, 6)}, 2, RULES)
    assert one.ended == rounds.ONE_LEFT and one.survivors == ["a"] and one.seeds == one.eliminated["b"] == 4
    tie = rounds.replay(["a", "c"], {"a": by_rep(GOOD, 6), "c": by_rep(CLOSE, 6)}, 2, rounds.Rules(2, 6, 0.05, 0.005))
    assert tie.ended == rounds.TIED and tie.seeds == 4
    never = rounds.replay(["a", "c"], {"a": by_rep(GOOD, 6), "c": by_rep(CLOSE, 6)}, 2, rounds.Rules(2, 6, 0.05, 0.0))
    assert never.ended == rounds.MAX_REPEATS  # min_delta 0: never tied


def test_a_contender_whose_trials_all_failed_leaves_the_race():
    r = rounds.replay(["a", "b"], {"a": by_rep(GOOD, 4), "b": dict.fromkeys(range(4))}, 2, RULES)
    assert r.failed == ["b"] and r.ended == rounds.ONE_LEFT


@pytest.mark.parametrize("most, looks", [(3, [3]), (5, [5]), (6, [4, 6]), (10, [4, 10]), (16, [4, 8, 16])])
def test_the_looks_double_the_seeds_and_share_alpha(most, looks):
    rules = rounds.Rules(top=3, max_repeats=most)
    assert rules.looks(2) == looks
    assert rules.level(2, 3) == pytest.approx(0.05 / (len(looks) * 3 * 2))


def test_the_default_margin_is_a_fifth_of_a_point_for_accuracies_only():
    assert rounds.margin("best_val_accuracy", None) == 0.002 and rounds.margin("test_loss", None) == 0.0
    assert rounds.margin("best_val_accuracy", 0.0) == 0.0


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


def _tell(strategy, planner, spec, values):
    strategy.tell(spec, finished(planner, spec.settings, spec.repeat, values[spec.settings["train.lr"]][spec.repeat])[1])


VALUES = {0.001: GOOD, 0.01: CLOSE, 0.1: BAD}


def test_confirm_runs_the_search_then_the_race_a_look_at_a_time():
    planner = Planner(raw(top=2, max_repeats=6, min_delta=0))  # looks at 4 and 6 seeds each
    strategy = confirm.wrap(strategy_for(planner))
    search = strategy.planned()
    strategy.start(search, [])
    started = [strategy.ask() for _ in range(len(search))]
    assert started == search and strategy.ask() is None  # the search runs; the race waits for all of it
    for spec in started[:-1]:
        _tell(strategy, planner, spec, VALUES)
    assert strategy.ask() is None
    _tell(strategy, planner, started[-1], VALUES)
    round_one = [strategy.ask() for _ in range(4)]
    assert strategy.ask() is None  # the round (both seeds of both contenders, at once: one fused group) is running
    assert {(s.group, s.repeat) for s in round_one} == {(g, r) for g in ("lr=0.001", "lr=0.01") for r in (2, 3)}
    assert {s.config.train.seed for s in round_one} == {2, 3} and all(s.trial_id.endswith(f",rep={s.repeat}") for s in round_one)
    pruner = confirm.search_pruner(Ruthless(), planner.config.sweep)
    assert pruner.active and pruner.report(search[0], 1, {}) and not pruner.report(round_one[0], 1, {})
    strategy.retry(round_one[0])  # a lost worker: the same trial again, first
    assert strategy.ask() == round_one[0]
    for spec in round_one:
        _tell(strategy, planner, spec, VALUES)
    round_two = [strategy.ask() for _ in range(4)]
    assert {s.repeat for s in round_two} == {4, 5} and strategy.ask() is None


def test_the_race_resumes_from_records_without_training_a_finished_trial_again():
    planner = Planner(raw(top=2, max_repeats=6, min_delta=0))
    strategy = confirm.wrap(strategy_for(planner))
    known = [finished(planner, s.settings, s.repeat, VALUES[s.settings["train.lr"]][s.repeat])
             for s in strategy.planned()]
    known += [finished(planner, {"train.lr": 0.001}, r, GOOD[r]) for r in (2, 3)]  # the round half done when killed
    known.append(finished(planner, {"train.lr": 0.01}, 2, CLOSE[2]))
    strategy.start([], known)
    spec = strategy.ask()
    assert (spec.group, spec.repeat) == ("lr=0.01", 3) and strategy.ask() is None
    strategy.tell(spec, finished(planner, spec.settings, 3, None, FAILED)[1])  # a failed seed counts as spent, without a value
    assert {s.repeat for s in (strategy.ask() for _ in range(4))} == {4, 5}


def _records(planner, lrs, seconds, cost=None):
    records = []
    for lr in lrs:
        for rep in range(6):
            record = finished(planner, {"train.lr": lr}, rep, VALUES[lr][rep])[1]
            record.train_seconds, record.test_accuracy, record.epochs_run = seconds[lr], 0.5 + lr, 1
            record.cost_seconds = cost[lr] if cost else None
            records.append(record)
    return records


def test_the_verdict_says_a_tie_and_its_cost_or_the_winner_and_by_how_much():
    planner = Planner(raw(top=2, max_repeats=6, min_delta=0.005))
    records = _records(planner, VALUES, {0.001: 10.0, 0.01: 6.0, 0.1: 5.0})
    tie = verdict.build(confirm.replay(planner, records), records, "best_val_accuracy")
    assert tie["ended"] == rounds.TIED and tie["state"] == "done" and tie["seeds_each"] == 4
    assert tie["verdict"] == ("tie within 0.5 points. lr.001 and lr.01 are equivalent at 4 seeds each; lr.01 costs "
                              "40% less training time.")
    assert tie["confirmation_trials"] == 2 * 2 and tie["min_delta_points"] == pytest.approx(0.5)
    text = verdict.block(tie, "t")
    assert text.startswith("t: tie within 0.5 points.") and all(len(line) <= 80 for line in text.split("\n"))
    assert "Test accuracy, %, never used to decide: 50.10, 51.00 (kept)." in text  # leader first

    won = verdict.build(rounds.replay(["lr=0.001", "lr=0.1"], confirm.results(records, "best_val_accuracy"), 2,
                                      rounds.Rules(2, 6)), records, "best_val_accuracy")
    assert won["ended"] == rounds.ONE_LEFT and won["verdict"] == "lr.001 is best at 4 seeds each. lr.1 is worse by more than 0.2 points."
    loser = won["contenders"][1]
    assert loser["gap_points"] == pytest.approx(-8.0, abs=0.01) and loser["gap_high_points"] < -0.2
    assert loser["state"] == "dropped" and loser["dropped_at_seeds"] == 4 and loser["p_best"] == 0.0
    assert "dropped, 4 seeds" in verdict.block(won, "t")


def test_the_verdicts_cost_is_cost_seconds_not_the_share_of_a_groups_wall_time():
    planner = Planner(raw(top=2, max_repeats=6, min_delta=0.005))
    # lr.01's trials trained in a big fused group (a small share each), lr.001's alone: cost_seconds says otherwise
    records = _records(planner, VALUES, {0.001: 10.0, 0.01: 6.0, 0.1: 5.0}, cost={0.001: 3.0, 0.01: 5.0, 0.1: 5.0})
    tie = verdict.build(confirm.replay(planner, records), records, "best_val_accuracy")
    assert tie["cost_from"] == "cost_seconds" and [r["cost_seconds"] for r in tie["contenders"]] == [3.0, 5.0]
    assert tie["verdict"].endswith("; lr.001 costs 40% less training time.")
    assert tie["confirmation_train_seconds"] == 2 * (10.0 + 6.0)  # what the race spent: wall time, shares summed
    shares = _records(planner, VALUES, {0.001: 10.0, 0.01: 6.0, 0.1: 5.0})  # records from before cost_seconds
    assert verdict.build(confirm.replay(planner, shares), shares, "best_val_accuracy")["cost_from"] == "train_seconds"


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
    assert "cannot be read (JSON nested too deeply)" in confirmed(tmp_path)


@pytest.mark.parametrize("damage", [b"sweep: " + b"[" * 100000 + b"]" * 100000, b"name: \xff\xfe sweep\n"])
def test_confirm_on_a_damaged_sweep_yaml_says_so_in_one_line(tmp_path, damage, capsys):
    from harness.cli import confirm_main

    run_dir = tmp_path / "runs" / "e"  # issue 29.11: a RecursionError and a UnicodeDecodeError traceback before
    run_dir.mkdir(parents=True)
    (run_dir / "sweep.yaml").write_bytes(damage)
    assert confirm_main([str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml: cannot read the sweep's config" in err and "Traceback" not in err


def _drive(strategy, planner, value):
    """Run `strategy` to its end in-process: every trial it hands out finishes at once with `value(spec)`."""
    strategy.start(strategy.planned(), [])
    told = []
    while (spec := strategy.ask()) is not None:
        record = finished(planner, spec.settings, spec.repeat, value(spec))[1]
        strategy.tell(spec, record)
        told.append(record)
    return told


def test_a_search_that_ends_short_of_its_size_still_gets_its_race_and_verdict(tmp_path):
    # issue 29.8: tpe asked for 4 settings of a space of 2 stops at 2; the race waited for 4 forever
    section = raw(top=2, max_repeats=3)
    section["sweep"].update(method="tpe", trials=4, parameters={"train.lr": [0.001, 0.01]})
    planner = Planner(section)
    strategy = confirm.wrap(strategy_for(planner, Workspace(tmp_path / "runs", tmp_path / "eventlog").sweep("t")))
    told = _drive(strategy, planner, lambda s: VALUES[s.settings["train.lr"]][s.repeat])
    assert sorted({(r.group, r.repeat) for r in told if r.repeat >= 2}) == [("lr=0.001", 2), ("lr=0.01", 2)]
    race = strategy.race(told)
    assert race is not None and race.ended and confirm.write_verdict(strategy, told)["state"] == "done"


def test_a_race_of_one_setting_says_so():
    # issue 29.4: 'Winner lr=0.003: ... at 2 seeds, ; better than .'
    planner = Planner(raw(top=2, max_repeats=3))
    records = _records(planner, [0.001], {0.001: 3.0})
    data = verdict.build(confirm.replay(planner, records), records, "best_val_accuracy")
    text = verdict.block(data, "t")
    assert data["verdict"] == "lr.001 is the only contender with a result." and ", ;" not in text and " ." not in text


def test_compare_marks_a_verdict_from_an_earlier_plan(tmp_path):
    # issue 29.5: a setting added since the race (and no race run) was followed by the old race's winner
    from harness.analysis.compare import confirmed
    from harness.analysis.results import write_csv

    planner = Planner(raw(top=2, max_repeats=3))
    records = _records(planner, VALUES, {0.001: 3.0, 0.01: 3.0, 0.1: 3.0})
    data = verdict.build(confirm.replay(planner, records), records, "best_val_accuracy")
    (tmp_path / "confirm.json").write_text(__import__("json").dumps(data))
    write_csv(tmp_path, records)
    assert "cannot be told" in confirmed(tmp_path)
    write_csv(tmp_path, records + [finished(planner, {"train.lr": 0.05}, 0, 0.99)[1]])
    assert "from an earlier plan of this sweep" in confirmed(tmp_path)


def test_confirm_on_a_finished_search_fills_its_workers(tmp_path):
    # issue 29.2: `confirm --workers 2` raced on one worker (the pool was sized from the search's own trials)
    from harness.sweep.engine import run_sweep, slots

    section = raw(top=2, max_repeats=4)
    planner = Planner(section)
    run_dir = tmp_path / "runs" / "t"
    for spec in strategy_for(planner).planned():
        finished(planner, spec.settings, spec.repeat, 0.9 + spec.repeat / 100)[1].save(run_dir / spec.trial_id)
    outcome = run_sweep(section, runs=tmp_path / "runs", eventlog=tmp_path / "eventlog", dry_run=True, overrides=["sweep.fuse=off"])
    assert len(outcome.plan.todo) == 0 and slots(outcome.plan, 1) == 4  # the race's round: 2 settings x 2 seeds


def test_planning_builds_configs_for_what_can_run_not_for_every_seed_a_race_could_take(tmp_path, monkeypatch):
    # issue 29.10: a dry run of 10 settings with max_repeats 1000 took 40 s (a config per possible race seed)
    from harness.sweep.engine import run_sweep

    built = []
    real = Planner.specs
    monkeypatch.setattr(Planner, "specs", lambda self, settings: built.append(1) or real(self, settings))
    section = raw(max_repeats=1000)
    section["sweep"]["parameters"] = {"train.lr": [0.001 * (i + 1) for i in range(50)]}
    outcome = run_sweep(section, runs=tmp_path / "runs", eventlog=tmp_path / "eventlog", dry_run=True)
    assert len(outcome.plan.todo) == 100 and len(built) <= 2 * 50  # each setting validated once (or twice), not 1000 times


def _race_records(planner, results: dict) -> list:
    records = []
    for lr, by_rep in results.items():
        for rep, value in by_rep.items():
            record = finished(planner, {"train.lr": lr}, rep, value)[1]
            record.train_seconds, record.test_accuracy, record.epochs_run = 1.0, 0.9, 1
            records.append(record)
    return records


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.90, 0.99), min_size=2, max_size=4), st.floats(0.0, 0.01), st.floats(0.0, 0.01),
       st.integers(0, 2**16), st.sampled_from([0.0, 0.002]))
def test_every_printed_interval_is_at_the_race_level_and_says_why_a_rival_was_kept(means, seed_sd, noise, seed, margin):
    """Any race (2-4 settings, shared seed noise or none, ties, zero spread): every gap is to the final
    leader on the seeds both have, a kept rival's interval contains 0 or the table says why, and the
    block fits 80 columns."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lrs = [0.001, 0.01, 0.1, 0.05][:len(means)]
    shared = rng.normal(0, seed_sd, 10)
    results = {lr: {r: float(m + shared[r] + rng.normal(0, noise)) for r in range(10)} for lr, m in zip(lrs, means)}
    section = raw(top=len(lrs), max_repeats=10, min_delta=margin)
    section["sweep"]["parameters"] = {"train.lr": lrs}
    planner = Planner(section)
    records = _race_records(planner, results)
    race = confirm.replay(planner, records)
    data = verdict.build(race, records, "best_val_accuracy")
    lead = race.values[data["leader"]]
    for row in data["contenders"]:
        if row["state"] in ("kept", "dropped"):
            mine = race.values[row["setting"]]
            common = sorted(set(mine) & set(lead))
            want = 100 * (sum(mine[r] for r in common) - sum(lead[r] for r in common)) / len(common)
            assert row["gap_points"] == pytest.approx(want, abs=1e-9)
    text = verdict.block(data, "t")
    assert all(len(line) <= 80 for line in text.split("\n")), text
    for line in text.split("\n"):
        if line.strip().endswith("kept") and "(" in line:  # a kept rival: its interval straddles 0
            low, high = (float(x) for x in line.split("(")[1].split(")")[0].split(" to "))
            assert low <= 0 <= high, line
