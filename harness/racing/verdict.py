"""The race's answer, once: in numbers (runs/E/confirm.json) and in words (the sweep's end, `compare`).

`build` turns a replayed race (harness/racing/rounds.py) and the trial records
into plain data, every figure in the unit it is shown in (an accuracy in %,
its gaps in points: the keys say which); `block` says it, the same lines
wherever it is printed. Every gap is to the final leader, on the repeats both
have, with its interval at the level the race decided at (stats.pair_alpha);
test accuracy is carried beside, for information: the race never reads it.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from typing import Any

from harness.layout import run_name
from harness.metrics import FINAL, percent
from harness.racing.rounds import TIED
from harness.racing.stats import gap
from harness.record import OK, TrialRecord, seconds_field

TESTED = "test_accuracy"


def _units(metric: str) -> tuple[float, str, str]:
    """(scale, value suffix, gap suffix): an accuracy in % and its gaps in points, any other metric as is."""
    return (100.0, "_pct", "_points") if percent(metric) else (1.0, "", "")


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def build(race, records: list[TrialRecord], metric: str) -> dict[str, Any]:
    """The verdict of `race` (a harness.racing.rounds.Race) as JSON-ready data."""
    scale, val, pts = _units(metric)
    sign = 1.0 if race.rules.goal == "maximize" else -1.0
    decision = race.decision
    leader = decision.leader if decision else (race.survivors[0] if race.survivors else None)
    dropped_by = {r.name: d.leader for _, d in race.rounds for r in d.rivals if r.dropped}  # the leader then
    chances = race.p_best() if race.values else {}
    by_group: dict[str, list[TrialRecord]] = {}
    for r in records:
        by_group.setdefault(r.group, []).append(r)
    lead = race.values.get(leader, {})
    seconds = seconds_field(lambda name: any(getattr(r, name) is not None for r in records))
    rows = []
    for name in race.contenders:
        seeds = race.eliminated.get(name, race.seeds)
        mine = [r for r in by_group.get(name, []) if r.repeat < seeds and r.finished]
        ok = [r for r in mine if r.status == OK]
        values = race.values.get(name, {})
        row = {
            "setting": name, "name": run_name(name), "settings": mine[0].settings if mine else {},
            "seeds": len(values), f"mean{val}": scale * _mean(list(values.values())) if values else None,
            "state": ("failed" if name in race.failed else "leader" if name == leader else
                      "dropped" if name in race.eliminated else "kept"),
            "dropped_at_seeds": race.eliminated.get(name), "p_best": chances.get(name),
            "test_accuracy_pct": _pct(_mean([r.test_accuracy for r in ok if r.test_accuracy is not None])),
            "cost_seconds": _mean([getattr(r, seconds) for r in mine if getattr(r, seconds) is not None]),
        }
        if dropped_by.get(name, leader) != leader:
            row["dropped_by"] = run_name(dropped_by[name])
        if name != leader and values and lead:
            g = gap(values, lead, race.level, sign)  # how much better this one is than the leader: <= 0 mostly
            row.update({f"gap{pts}": sign * scale * g.difference, "paired_seeds": g.pairs,
                        f"gap_low{pts}": _finite(scale * (g.low if sign > 0 else -g.high)),
                        f"gap_high{pts}": _finite(scale * (g.high if sign > 0 else -g.low))})
        rows.append(row)
    used = {name: race.eliminated.get(name, race.seeds) for name in race.contenders}  # seeds each one raced with
    extra = [r for r in records if r.finished and race.start <= r.repeat < used.get(r.group, 0)]
    data = {
        "metric": metric, "goal": race.rules.goal, "unit": "%" if scale == 100 else "",
        "alpha": race.rules.alpha, "level_one_sided": race.level, "interval_coverage": 1 - 2 * race.level,
        f"min_delta{pts}": scale * race.rules.min_delta,
        "top": race.rules.top, "max_repeats": race.rules.max_repeats, "seeds_from_search": race.start,
        "state": "done" if race.ended else "running", "ended": race.ended, "leader": leader,
        "survivors": race.survivors, "seeds_each": race.seeds, "looks": len(race.rounds),
        "confirmation_trials": len(extra), "confirmation_epochs": sum(r.epochs_run for r in extra),
        "confirmation_train_seconds": sum(r.train_seconds or 0 for r in extra),
        "cost_from": seconds, "contenders": rows,
        "search_settings": sorted({r.group for r in records if r.repeat < race.start}),
    }
    data["verdict"] = headline(data)
    return data


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


# --- in words -----------------------------------------------------------------------------

def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return ""
    x = round(x, 2) + 0.0  # no -0.00
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def _differ(rows: list[dict]) -> str:
    """'differ only in dropout' / 'differ in dropout and lr' for the settings of `rows`."""
    keys = sorted({k for r in rows for k in r["settings"]})
    diff = [k.rsplit(".", 1)[-1] for k in keys if len({repr(r["settings"].get(k)) for r in rows}) > 1]
    if not diff or len(diff) == len(keys):  # their names say it
        return ""
    return ("differ only in " + diff[0]) if len(diff) == 1 else "differ in " + ", ".join(diff[:-1]) + " and " + diff[-1]


def _names(rows: list[dict]) -> str:
    names = [r["name"] for r in rows]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def headline(data: dict[str, Any]) -> str:
    """The answer in a few sentences: who is best, tied or not told apart, and who is worse and by how much
    (each sentence what the intervals in the table show, at the race's level)."""
    rows = {r["setting"]: r for r in data["contenders"]}
    _, _, pts = _units(data["metric"])
    margin, unit = data.get(f"min_delta{pts}", 0.0), " points" if pts else ""
    kept = [rows[s] for s in data["survivors"] if s in rows and s != data["leader"]]
    alike = [rows[data["leader"]]] + [r for r in kept if not _excludes_zero(r, pts, data["goal"])]
    slight = [r for r in kept if _excludes_zero(r, pts, data["goal"])]
    worse = [r for r in data["contenders"] if r["state"] == "dropped"]
    failed = [r for r in data["contenders"] if r["state"] == "failed"]
    are = lambda group: "is" if len(group) == 1 else "are"  # noqa: E731
    seeds = f"{data['seeds_each']} seeds each" + (" so far" if data["state"] == "running" else "")
    survivors = alike + slight
    why = lambda group: f" (they {d})" if len(group) > 1 and (d := _differ(group)) else ""  # noqa: E731
    if data["ended"] == TIED:
        out = [f"tie within {margin:g}{unit}. {_names(survivors)}{why(survivors)} are equivalent at {seeds}{_cost(survivors)}."]
        slight = []
    elif len(alike) == 1:
        best = alike[0]["name"]
        out = [f"{best} is best at {seeds}." if slight or worse else f"{best} is the only contender with a result."]
    else:
        told = "cannot be told apart" if data["state"] == "done" else "are not told apart yet"
        out = [f"{'no winner' if data['state'] == 'done' else 'race running'}. {_names(alike)}"
               f"{why(alike)} {told} at {seeds}{_cost(alike)}."]
    if slight:
        out.append(f"{_names(slight)} {are(slight)} worse" + (f", though perhaps by less than {margin:g}{unit}." if margin else "."))
    if worse:
        out.append(f"{_names(worse)} {are(worse)} worse" + (f" by more than {margin:g}{unit}." if margin else "."))
    if failed:
        out.append(f"{_names(failed)}: no trial finished ok.")
    return " ".join(out)


def _cost(group: list[dict]) -> str:
    """'; B costs 40% less training time' when one of `group` trains noticeably cheaper than the dearest
    (by its mean cost_seconds: what a trial of it costs, whichever group it trained in)."""
    timed = [r for r in group if r.get("cost_seconds")]
    if len(timed) < 2:
        return ""
    cheap, dear = min(timed, key=lambda r: r["cost_seconds"]), max(r["cost_seconds"] for r in timed)
    if cheap["cost_seconds"] > 0.9 * dear:
        return ""
    return f"; {cheap['name']} costs {1 - cheap['cost_seconds'] / dear:.0%} less training time"


def _ordered(data: dict[str, Any]) -> list[dict]:
    """The contenders as the table lists them: the leader, those kept, dropped, failed; best mean first."""
    _, val, _ = _units(data["metric"])
    order = {"leader": 0, "kept": 1, "dropped": 2, "failed": 3}
    sign = 1.0 if data["goal"] == "maximize" else -1.0
    return sorted(data["contenders"], key=lambda r: (order[r["state"]], -sign * (r.get(f"mean{val}") or 0.0)))


def table(data: dict[str, Any], names: dict[str, str]) -> list[str]:
    """The contenders, leader first: mean, gap to the leader and its interval, P(best), what the race did."""
    _, val, pts = _units(data["metric"])
    margin = data.get(f"min_delta{pts}", 0.0)
    rows = _ordered(data)
    cells = []
    for r in rows:
        interval = (f"{_num(r.get(f'gap{pts}'), True)} ({_num(r.get(f'gap_low{pts}'), True)} to "
                    f"{_num(r.get(f'gap_high{pts}'), True)})" if r.get(f"gap_low{pts}") is not None else
                    _num(r.get(f"gap{pts}"), True))
        state = "kept" if r["state"] == "leader" else r["state"]
        if state == "dropped":
            state = f"dropped, {r['dropped_at_seeds']} seeds" + ("*" if r.get("dropped_by") else "")
        elif state == "kept" and _excludes_zero(r, pts, data["goal"]):
            state = f"kept: may be within {margin:g}"  # worse, but not shown worse by more than the margin
        p = "" if r["p_best"] is None else f"{r['p_best']:.0%}"
        mean = r.get(f"mean{val}")
        cells.append([names[r["setting"]], "" if mean is None else (f"{mean:.2f}" if pts else f"{mean:.4g}"),
                      "leader" if r["state"] == "leader" else interval, p, state])
    head = ["setting", "val acc" if data["metric"] == "best_val_accuracy" else data["metric"], "gap to leader",
            "P(best)", "race"]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    right = {1, 3}
    line = lambda c: "  " + "  ".join(x.rjust(w) if i in right else x.ljust(w)  # noqa: E731
                                      for i, (x, w) in enumerate(zip(c, widths))).rstrip()
    return [line(head)] + [line(c) for c in cells]


def _excludes_zero(row: dict, pts: str, goal: str) -> bool:
    """The rival's interval lies wholly on the worse side of the leader."""
    low, high = row.get(f"gap_low{pts}"), row.get(f"gap_high{pts}")
    return (high is not None and high < 0) if goal == "maximize" else (low is not None and low > 0)


def _fit_names(data: dict[str, Any], width: int) -> dict[str, str]:
    """TensorBoard's run names; only the parts that differ between contenders when the table would be too wide."""
    full = {r["setting"]: r["name"] for r in data["contenders"]}
    if len(table(data, full)[0]) <= width and max(map(len, table(data, full))) <= width:
        return full
    parts = {s: n.split(",") for s, n in full.items()}
    common = set.intersection(*(set(p) for p in parts.values())) if parts else set()
    return {s: ",".join(x for x in p if x not in common) or full[s] for s, p in parts.items()}


def block(data: dict[str, Any], sweep: str, width: int = 80) -> str:
    """The whole answer as printed: headline, table, what it cost, test accuracy beside."""
    pts = _units(data["metric"])[2]
    wrap = lambda text: textwrap.fill(text, width, break_on_hyphens=False, break_long_words=False)  # noqa: E731
    if data["leader"] is None:
        return wrap(f"{sweep}: no contender finished a trial: nothing to confirm.")
    names = _fit_names(data, width)
    m = FINAL.get(data["metric"])
    what = (m.display[0].upper() + m.display[1:]) if m else data["metric"]
    seeds = {r["seeds"] for r in data["contenders"] if r["state"] in ("leader", "kept")}
    n = f"mean of {seeds.pop()} seeds" if len(seeds) == 1 else "mean over its seeds"
    level = f"{100 * data['interval_coverage']:.1f}%".replace(".0%", "%")
    unit = ", %" if pts else ""
    out = [wrap(f"{sweep}: {headline(data)}"), "",
           wrap(f"{what}{unit} ({n}); gap to the leader{' in points' if pts else ''}, {level} interval "
                f"(the race's level: alpha {data['alpha']:g} over its comparisons):"),
           *table(data, names)]
    if by := [r for r in data["contenders"] if r.get("dropped_by")]:
        out.append(wrap("* dropped against the leader of its look, "
                        + "; ".join(f"{names[r['setting']]} by {r['dropped_by']}" for r in by) + "."))
    rounds = data["looks"]
    out += [wrap(f"Spent: {data['confirmation_trials']} confirmation trials ({rounds} look{'s' if rounds != 1 else ''}), "
                 f"{data['confirmation_epochs']} epochs, {data['confirmation_train_seconds']:.0f} s of training.")]
    tested = [(r["state"], r["test_accuracy_pct"]) for r in _ordered(data) if r.get("test_accuracy_pct") is not None]
    if tested and data["metric"] != TESTED:
        kept = [f"{v:.2f}" for s, v in tested if s in ("leader", "kept")]
        gone = [f"{v:.2f}" for s, v in tested if s == "dropped"]
        parts = ([", ".join(kept) + " (kept)"] if kept else []) + ([", ".join(gone) + " (dropped)"] if gone else [])
        out.append(wrap("Test accuracy, %, never used to decide: " + "; ".join(parts) + "."))
    return "\n".join(out)
