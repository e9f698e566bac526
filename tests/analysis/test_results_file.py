"""results.csv kept current from records in memory during a sweep."""

import pandas as pd

from harness.analysis.results import ResultsFile
from harness.record import OK, RUNNING, TrialRecord


def test_update_rewrites_the_table_in_plan_order_from_memory(tmp_path):
    ids = ["a", "b", "c"]
    TrialRecord(trial_id="b", experiment="e", status=OK, test_accuracy=0.9).save(tmp_path / "b")
    table = ResultsFile(tmp_path, ids)  # reads b's record, once
    TrialRecord(trial_id="c", experiment="e", status=RUNNING).save(tmp_path / "c")  # not re-read
    path = table.update(TrialRecord(trial_id="a", experiment="e", status=OK, test_accuracy=0.8))
    df = pd.read_csv(path)
    assert df["trial_id"].tolist() == ["a", "b"] and df["test_accuracy"].tolist() == [0.8, 0.9]
    table.update(TrialRecord(trial_id="b", experiment="e", status="failed", error="boom"))
    df = pd.read_csv(path)
    assert df.set_index("trial_id").loc["b", "status"] == "failed" and len(df) == 2
