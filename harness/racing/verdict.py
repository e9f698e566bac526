"""The race's answer in numbers (runs/E/confirm.json) and in words (the sweep's closing line, `compare`).

`build` turns a replayed race (harness/racing/rounds.py) and the trial records
into plain data; `sentences` says it. Test accuracy is carried beside, for
information: the race never reads it.
"""

from __future__ import annotations

import statistics
from typing import Any

from harness.record import OK, TrialRecord

TESTED = "test_accuracy"


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def build(race, records: list[TrialRecord], metric: str) -> dict[str, Any]:
    """The verdict of `race` (a harness.racing.rounds.Race) as JSON-ready data."""
    by_group: dict[str, list[TrialRecord]] = {}
    for r in records:
        by_group.setdefault(r.group, []).append(r)
    last: dict[str, Any] = {}  # contender -> its comparison with the leader in the last round it was in
    for _, decision in race.rounds:
        last.update({rival.name: rival for rival in decision.rivals})
    decision = race.decision
    rows = []
    for name in race.contenders:
        seeds = race.eliminated.get(name, race.seeds)
        mine = [r for r in by_group.get(name, []) if r.repeat < seeds and r.finished]
        ok = [r for r in mine if r.status == OK and getattr(r, metric) is not None]
        rival = last.get(name) if decision is None or name != decision.leader else None
        vals = [float(getattr(r, metric)) for r in ok]
        rows.append({
            "setting": name, "settings": mine[0].settings if mine else {}, "seeds": len(mine),
            "mean": _mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None,
            "eliminated_after_seeds": race.eliminated.get(name), "failed": name in race.failed,
            "p_best": decision.p_best.get(name, 0.0) if decision else None,
            "leader_better_by": rival.difference if rival else None,
            "ci95": list(rival.ci) if rival else None, "p_holm": rival.p_holm if rival else None,
            "test_accuracy": _mean([r.test_accuracy for r in ok if r.test_accuracy is not None]),
            "train_seconds": _mean([r.train_seconds for r in mine if r.train_seconds is not None]),
        })
    start = race.start
    used = {name: race.eliminated.get(name, race.seeds) for name in race.contenders}  # seeds each one raced with
    extra = [r for r in records if r.finished and start <= r.repeat < used.get(r.group, 0)]
    data = {
        "metric": metric, "goal": race.rules.goal, "alpha": race.rules.alpha, "min_delta": race.rules.min_delta,
        "top": race.rules.top, "max_repeats": race.rules.max_repeats, "seeds_from_search": start,
        "state": "done" if race.ended else "running", "ended": race.ended,
        "leader": decision.leader if decision else (race.survivors[0] if race.survivors else None),
        "survivors": race.survivors, "seeds_each": race.seeds,
        "confirmation_trials": len(extra), "confirmation_epochs": sum(r.epochs_run for r in extra),
        "confirmation_train_seconds": sum(r.train_seconds or 0 for r in extra),
        "contenders": rows,
    }
    data["verdict"] = " ".join(sentences(data))
    return data


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def sentences(data: dict[str, Any]) -> list[str]:
    """The verdict in words: the winner and by how much, a tie and its cost, or where the race stands."""
    rows = {r["setting"]: r for r in data["contenders"]}
    metric, leader = data["metric"], data["leader"]
    if leader is None:
        return ["No contender finished a trial: nothing to confirm."]
    lead = rows[leader]
    seeds = f"{lead['seeds']} seeds"
    rivals = [rows[s] for s in rows if s != leader and not rows[s]["failed"]]

    def against(r: dict) -> str:
        if r["leader_better_by"] is None:
            return f"{r['setting']} (not compared)"
        lo, hi = r["ci95"]
        when = (f", dropped after {r['eliminated_after_seeds']} seeds, Holm p = {r['p_holm']:.2g}"
                if r["eliminated_after_seeds"] else "")
        return f"{r['setting']} by {_signed(r['leader_better_by'])} (95% CI {_signed(lo)} to {_signed(hi)}{when})"

    p = f"P(best) {lead['p_best']:.0%}" if lead["p_best"] is not None else ""
    head = f"{leader}: {metric} {lead['mean']:.4f} at {seeds}"
    if data["ended"] == "one left":
        out = [f"Winner {head}, {p}; better than " + "; ".join(map(against, rivals)) + "."]
    elif data["ended"] == "tied":
        tied = [rows[s] for s in data["survivors"]]
        cheap = min(tied, key=lambda r: r["train_seconds"] or float("inf"))
        out = [f"{' and '.join(r['setting'] for r in tied)} are tied within {data['min_delta']} at "
               f"{data['seeds_each']} seeds each" + _cost(cheap, tied) + "."]
        out += ["Dropped: " + "; ".join(map(against, [r for r in rivals if r["eliminated_after_seeds"]])) + "."] \
            if any(r["eliminated_after_seeds"] for r in rivals) else []
    else:
        still = "No significant winner yet" if data["state"] == "running" else \
            f"No significant winner at {data['max_repeats']} seeds each"
        out = [f"{still}: leader {head}, {p}; ahead of " + "; ".join(map(against, rivals)) + "."]
        alive = [rows[s] for s in data["survivors"]]
        if len(alive) > 1:
            cheap = min(alive, key=lambda r: r["train_seconds"] or float("inf"))
            out.append(f"{' and '.join(r['setting'] for r in alive)} are within noise" + _cost(cheap, alive) + ".")
    out.append(f"Spent: {data['confirmation_trials']} confirmation trials, {data['confirmation_epochs']} epochs, "
               f"{data['confirmation_train_seconds']:.0f} s of training.")
    tests = [f"{r['setting']} {r['test_accuracy']:.4f}" for r in [lead, *rivals] if r["test_accuracy"] is not None
             and (r["setting"] in data["survivors"])]
    if tests:
        out.append("Test accuracy of the survivors, for information (never used to decide): " + ", ".join(tests) + ".")
    return out


def _cost(cheap: dict, group: list[dict]) -> str:
    """'; B costs 40% less' when one of `group` trains noticeably faster than the dearest."""
    dear = max((r["train_seconds"] or 0) for r in group)
    if not cheap["train_seconds"] or not dear or cheap["train_seconds"] > 0.9 * dear:
        return ""
    return f"; {cheap['setting']} costs {1 - cheap['train_seconds'] / dear:.0%} less training time"
