"""The HParams experiment under eventlog/: the union of the sweeps', one copy in each sweep's folder, read back
with TensorBoard's own loader."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.plugins.hparams import api_pb2, summary_v2

from harness.config import plan
from harness.sweep import hparams_union
from harness.hparams import SWEEP
from fixtures_eventlog import experiment_configs

ROOT = Path(__file__).resolve().parents[2]
GRID = {"model.hidden": [[128], [512]], "train.lr": [0.001, 0.01]}


def sweep(name: str, parameters: dict | None = None, **settings):
    raw = {"name": name, "sweep": {"parameters": parameters, **settings}} if parameters else {"name": name}
    return plan.plan(raw)[0]


def columns(exp: api_pb2.Experiment) -> dict[str, list]:
    return {h.name: ([getattr(v, v.WhichOneof("kind")) for v in h.domain_discrete.values]
                     or [h.domain_interval.min_value, h.domain_interval.max_value]) for h in exp.hparam_infos}


def the_only_config(eventlog: Path) -> api_pb2.Experiment:
    """The config TensorBoard finds, whichever it picks: one copy per sweep, all equal, none elsewhere."""
    configs = experiment_configs(eventlog)
    sweeps = sorted(hparams_union.sweep_experiments(eventlog, warn=lambda _: None))  # the damaged ones left out
    assert sorted(run.split("/")[0] for run in configs) == sweeps, list(configs)
    assert all(run.split("/")[1] == "~hparams" for run in configs), list(configs)
    assert len({c.SerializeToString() for c in configs.values()}) == 1, list(configs)
    return next(iter(configs.values()))


def test_the_eventlog_holds_one_config_the_union_of_every_sweep(tmp_path):
    hparams_union.register_sweep(tmp_path, sweep("quick", GRID))
    hparams_union.register_sweep(tmp_path, sweep("tb-mlp", {"model.hidden": [[100], [500]], "train.lr": [0.1, 0.5],
                                                             "data.scaling": ["unit", "binary"]}))
    log_uniform = {"distribution": "log_uniform", "min": 1e-4, "max": 1e-2}
    hparams_union.register_sweep(tmp_path, sweep("deep", {"train.lr": log_uniform}, method="random", samples=3))
    hparams_union.register_sweep(tmp_path, sweep("cnn"))  # nothing swept: its fixed core knobs are columns
    got = columns(the_only_config(tmp_path))
    assert got[SWEEP] == ["cnn", "deep", "quick", "tb-mlp"]
    assert got["model.hidden"] == ["100", "128", "500", "512"]  # numeric order, as text (a list value)
    assert got["train.lr"] == [1e-4, 0.5]  # a range joined with values: one range over all
    assert got["data.scaling"] == ["binary", "unit"]
    assert "model.family" not in got and "train.optimizer" not in got  # one value in every sweep: no column
    assert experiment_configs(tmp_path / "quick")  # --logdir eventlog/quick finds the union too


def test_the_union_follows_the_sweeps_and_is_written_once_per_content(tmp_path):
    other, tmp_path = tmp_path / "other", tmp_path / "eventlog"
    first = hparams_union.register_sweep(tmp_path, sweep("a", GRID))
    mtime = next(first.glob("*tfevents*")).stat().st_mtime_ns
    assert hparams_union.register_sweep(tmp_path, sweep("a", GRID)) == first  # a resumed sweep: unchanged
    assert next(first.glob("*tfevents*")).stat().st_mtime_ns == mtime
    second = hparams_union.register_sweep(tmp_path, sweep("b", {"model.dropout": [0.0, 0.5]}))
    assert second != first and not first.exists()  # a new run: TensorBoard re-reads it, and drops the old one
    assert set(columns(the_only_config(tmp_path))) == {SWEEP, "model.hidden", "train.lr", "model.dropout"}

    # Built the same whatever order the sweeps started in.
    hparams_union.register_sweep(other, sweep("b", {"model.dropout": [0.0, 0.5]}))
    assert hparams_union.register_sweep(other, sweep("a", GRID)).name == second.name

    # A deleted sweep is gone from the union once it is rebuilt; no sweep left, no config left.
    shutil.rmtree(tmp_path / "b")
    assert hparams_union.rebuild(tmp_path).name == first.name
    shutil.rmtree(tmp_path / "a")
    assert hparams_union.rebuild(tmp_path) is None and not experiment_configs(tmp_path)


def test_rebuild_removes_the_per_sweep_configs_earlier_versions_wrote(tmp_path):
    hparams_union.register_sweep(tmp_path, sweep("old", GRID))
    union = next((tmp_path / "old" / "~hparams").glob("*/*tfevents*"))
    shutil.copy(union, tmp_path / "old" / "events.out.tfevents.1.host.1.0.v2")  # where they were
    (tmp_path / ".hparams" / "0123456789ab").mkdir()
    shutil.copy(union, tmp_path / ".hparams" / "0123456789ab")  # where the union was
    assert len(experiment_configs(tmp_path)) == 3
    assert main(["--eventlog", str(tmp_path)]).returncode == 0
    the_only_config(tmp_path)


@pytest.mark.parametrize("domains, expected", [
    ([summary_v2.Discrete([0.1, 0.5]), summary_v2.Discrete([0.01])], [0.01, 0.1, 0.5]),
    ([summary_v2.Discrete([0.1]), summary_v2.RealInterval(0.2, 0.9)], (0.1, 0.9)),
    ([summary_v2.Discrete([True]), summary_v2.Discrete([False])], [False, True]),
    ([summary_v2.Discrete(["512,256", "1024"]), summary_v2.Discrete(["512"])], ["512", "512,256", "1024"]),
    ([summary_v2.Discrete(["relu"]), summary_v2.Discrete([2.0, 0.5])], ["0.5", "2", "relu"]),
    ([summary_v2.Discrete([1.0]), None], None),
])
def test_merged_domains(domains, expected):
    infos = []
    for d in domains:
        infos.append(api_pb2.HParamInfo(name="p"))
        if d is not None:
            d.update_hparam_info(infos[-1])
    got = columns(api_pb2.Experiment(hparam_infos=[hparams_union.merged_info("p", infos)]))["p"]
    if isinstance(expected, tuple):
        assert tuple(got) == expected
    else:
        assert got == (expected or [0.0, 0.0])  # no domain: neither values nor a range
    assert hparams_union.merged_info("p", infos).differs == (expected is not None)


def main(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "hparams", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_the_command_and_a_sweep_start_never_import_tensorflow(tmp_path):
    code = ("import sys; from pathlib import Path; from harness.config import plan; "
            "from harness.sweep import hparams_union; "
            f"hparams_union.register_sweep(Path({str(tmp_path)!r}), plan.plan({{'name': 'a'}})[0]); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
    done = main(["--eventlog", str(tmp_path)])
    assert done.returncode == 0 and "1 sweep(s), a:" in done.stdout
    missing = main(["--eventlog", str(tmp_path / "nope")])
    assert missing.returncode == 2 and "no such directory" in missing.stderr


DAMAGE = {  # another sweep's experiment file, damaged: what the warning says
    "garbage": (lambda p: p.write_bytes(b"garbage\xff\x00\x12"), "not an HParams experiment (DecodeError"),
    "empty": (lambda p: p.write_bytes(b""), "empty, not an HParams experiment"),
    "not-an-experiment": (lambda p: p.write_bytes(b"\x0a\x03\x0a\x01x"), "not an HParams experiment (HParamsError"),
    "a-directory": (lambda p: (p.unlink(), p.mkdir()), "is a directory where a file belongs"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_experiment_of_another_sweep_is_named_and_left_out(tmp_path, capsys, damage):
    hparams_union.register_sweep(tmp_path, sweep("other", {"model.dropout": [0.0, 0.5]}))
    make, words = DAMAGE[damage]
    make(tmp_path / "other" / "hparams_experiment.pb")
    assert hparams_union.register_sweep(tmp_path, sweep("mine", GRID)) is not None
    err = capsys.readouterr().err
    assert f"{tmp_path / 'other' / 'hparams_experiment.pb'}: {words}" in err and "'other' left out" in err
    assert len(err.splitlines()) == 1
    assert set(columns(the_only_config(tmp_path))) == set(GRID)  # the rest of the union is whole (no one-value
    # `sweep` column)


@pytest.mark.parametrize("where", ["union-a-file", "lock-a-directory"])
def test_a_union_of_the_wrong_kind_is_warned_about_and_the_sweep_goes_on(tmp_path, capsys, where):
    root = tmp_path / ".hparams"
    culprit = root if where == "union-a-file" else root / ".lock"
    culprit.write_text("mine") if where == "union-a-file" else culprit.mkdir(parents=True)
    assert hparams_union.register_sweep(tmp_path, sweep("mine", GRID)) is None
    err = capsys.readouterr().err
    assert err.startswith(f"warning: the HParams dashboard's columns were not rebuilt: {culprit}: ")
    assert (tmp_path / "mine" / "hparams_experiment.pb").is_file()  # the sweep's own record is written
    assert culprit.exists()  # nothing of the user's is removed
    done = main(["--eventlog", str(tmp_path)])
    assert done.returncode == 2 and done.stderr.startswith(f"error: {culprit}: ") and "Traceback" not in done.stderr


def test_the_dashboard_lists_each_sweeps_metric_first_and_the_test_sets_last(tmp_path):
    """Parallel Coordinates colours by the first metric: the one the sweep chose on, never the test set's."""
    hparams_union.register_sweep(tmp_path, sweep("quick", GRID))
    tags = [m.name.tag for m in the_only_config(tmp_path).metric_infos]
    assert tags[0] == "selection/best_val_accuracy" and tags[-2:] == ["test/accuracy", "test/loss"]
    assert not any(t.startswith("z_layers") for t in tags)
    hparams_union.register_sweep(tmp_path, sweep("fast", GRID, metric={"name": "train_seconds", "goal": "minimize"}))
    tags = [m.name.tag for m in the_only_config(tmp_path).metric_infos]
    assert tags[:2] == ["run_time/train_seconds", "selection/best_val_accuracy"]  # fast, then quick
    assert len(tags) == len(set(tags)) and tags[-2:] == ["test/accuracy", "test/loss"]
