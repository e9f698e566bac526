"""Which swept parameters mattered: Optuna's importance evaluator over a sweep's results.

Works from the results table alone (any sweep: grid, random, list or tpe):
each swept column becomes an Optuna distribution (numbers a range, on a log
scale when they span two decades; anything else categorical), each ok trial a
finished Optuna trial, and Optuna's default evaluator (PED-ANOVA in Optuna 5:
how much each parameter's distribution differs between the top trials and the
rest) gives each parameter's share. Pruned trials are left out: they have no
final value.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.curves import new_figure
from harness.analysis.results import param_columns
from harness.record import OK


def _distribution(values: pd.Series):
    import optuna

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        lo, hi = float(numeric.min()), float(numeric.max())
        return optuna.distributions.FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100), numeric.astype(float)
    text = values.astype(str)
    return optuna.distributions.CategoricalDistribution(sorted(text.unique())), text


def importances(df: pd.DataFrame, metric: str, goal: str) -> pd.DataFrame:
    """One row per swept parameter that varies among the ok trials: its importance (summing to 1), best first."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ok = df[(df["status"] == OK) & pd.to_numeric(df[metric], errors="coerce").notna()]
    params = [p for p in param_columns(df.drop(columns="sweep", errors="ignore")) if ok[p].nunique() > 1]
    if len(ok) < 3 or not params:
        raise ValueError(f"parameter importance needs at least 3 ok trials and a parameter that varies "
                         f"(found {len(ok)} ok trials, {len(params)} varying parameters)")
    columns = {p: _distribution(ok[p]) for p in params}
    study = optuna.create_study(direction=goal)
    for i in range(len(ok)):
        study.add_trial(optuna.trial.create_trial(
            params={p: values.iloc[i] for p, (_, values) in columns.items()},
            distributions={p: dist for p, (dist, _) in columns.items()}, value=float(ok[metric].iloc[i])))
    shares = optuna.importance.get_param_importances(study)
    return pd.DataFrame({"parameter": list(shares), "importance": list(shares.values())})


def importance_plot(table: pd.DataFrame, metric: str):
    fig = new_figure(figsize=(7, 0.5 * len(table) + 1.5), layout="constrained")
    ax = fig.subplots()
    ax.barh(table["parameter"][::-1], table["importance"][::-1], color="tab:blue")
    ax.set(xlabel=f"importance for {metric} (share, Optuna PED-ANOVA)", xlim=(0, 1),
           title=f"which swept parameters mattered for {metric}")
    for y, v in enumerate(table["importance"][::-1]):
        ax.text(v + 0.01, y, f"{v:.2f}", va="center")
    return fig
