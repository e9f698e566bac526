"""A Fashion-MNIST sweep end to end, as a user runs one: fused, raced, resumed, in TensorBoard and compare,
its classes named downstream (the data tests and the fused-equals-unfused tests run on both datasets)."""

import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator

from harness.layout import run_name
from sweeps import run_sweep, write_config
from tiny import dataset_or_skip

pytestmark = pytest.mark.slow  # a sweep with its race, then its resume


def test_a_fashion_sweep_trains_fused_races_resumes_and_names_its_classes(tmp_path):
    dataset_or_skip("fashion-mnist")
    cfg = write_config(tmp_path, "fq", data={"dataset": "fashion-mnist"}, logging={"images": True},
                       sweep={"repeats": 2, "parameters": {"train.lr": [0.003, 0.3]},
                              "confirm": {"top": 2, "max_repeats": 3}})
    done = run_sweep(cfg, tmp_path, "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    df = pd.read_csv(tmp_path / "runs" / "fq" / "results.csv")
    assert (df["dataset"] == "fashion-mnist").all() and (df["status"] == "ok").all()
    assert (df["fused_size"] > 1).any() and (df["repeat"] == 2).any()  # fused, and the race added a seed
    assert (tmp_path / "runs" / "fq" / "confirm.json").is_file()

    run = tmp_path / "eventlog" / "fq" / run_name(df["trial_id"][0])
    acc = event_accumulator.EventAccumulator(str(run), size_guidance={"tensors": 0})
    acc.Reload()
    assert "test_digits/confusion_matrix" in acc.Tags()["tensors"]

    again = run_sweep(cfg, tmp_path, "--workers", "2")
    assert again.returncode == 0 and "already finished, 0 to run" in again.stdout, again.stdout
    assert pd.read_csv(tmp_path / "runs" / "fq" / "results.csv").equals(df)
