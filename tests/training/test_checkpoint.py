"""Crash-safe checkpoints: unreadable ones are skipped, and a trial killed at any moment resumes to `ok`."""

import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
import zlib

import keras
import numpy as np
import pandas as pd
import pytest

from harness import layout
from harness.config import schema
from harness.record import TrialRecord
from harness.training import checkpoint, models, optim
from harness.training.callbacks import Interruption
from harness.training.checkpoint import Checkpointer, checkpoints, read_variables, write_variables
from harness.training.trial import run_trial
from harness.config.plan import TrialSpec
from harness.layout import Workspace


CFG = schema.from_dict({"name": "tiny", "data": {"limit": 500}, "train": {"batch_size": 100},
                        "model": {"hidden": [32]}})


def _compiled(cfg=CFG, seed=1):
    keras.utils.set_random_seed(seed)
    model = models.build(cfg.model, cfg.data.scaling)
    optim.compile_model(model, cfg.train, 500)
    return model


def _weights(model):
    return [v.numpy().copy() for v in model.variables + model.optimizer.variables]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    """The checkpoints of 2 epochs of 5 steps, each saved every 2 steps and at the epoch's end."""
    directory = tmp_path_factory.mktemp("trained") / "ckpt"
    _compiled().fit(mnist.x_train[:500], mnist.y_train[:500], batch_size=100, epochs=2, verbose=0,
                    callbacks=[Checkpointer(directory, every_steps=2)])
    return directory


def _two_checkpoints(trained, tmp_path):
    """A copy of `trained`: (newest, previous) = the end of epoch 2 (step 10) and step 8 inside it."""
    shutil.copytree(trained, tmp_path / "ckpt")
    found = checkpoints(tmp_path / "ckpt")
    # Saved at steps 2, 4, 5 (epoch end), 6, 8, 10 (epoch end, not twice): only the last two are kept.
    assert [p.name for p in found] == ["ckpt-000006", "ckpt-000005"]
    return found


def _tear(path):
    weights = path / layout.CHECKPOINT_WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


DAMAGE = {
    "torn weights": _tear,
    "garbage weights": lambda p: (p / layout.CHECKPOINT_WEIGHTS).write_bytes(os.urandom(4096)),
    "no state": lambda p: (p / layout.CHECKPOINT_STATE).unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(damage, trained, tmp_path, capsys):
    newest, previous = _two_checkpoints(trained, tmp_path)
    reference = _compiled(seed=2)
    reference.optimizer.build(reference.trainable_variables)
    read_variables(reference, previous / layout.CHECKPOINT_WEIGHTS)
    DAMAGE[damage](newest)

    model = _compiled(seed=3)
    restored = Checkpointer(tmp_path / "ckpt").restore(model)
    assert (restored.epoch, restored.step, restored.path) == (1, 8, previous)
    assert model._initial_epoch == 1 and int(model.optimizer.iterations.numpy()) == 8
    assert _same(_weights(model), _weights(reference))
    assert len(restored.warnings) == 1 and str(newest) in restored.warnings[0]
    assert "resuming from the previous one" in restored.warnings[0]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: {restored.warnings[0]}"]  # one line, naming the path and the error


def test_when_no_checkpoint_is_readable_training_starts_over(trained, tmp_path, capsys):
    newest, previous = _two_checkpoints(trained, tmp_path)
    DAMAGE["garbage weights"](newest)
    # Another model's weights, checksum valid: refused whole (hidden1 would fit, the logits would not).
    other = _compiled(schema.from_dict({"name": "other", "model": {"hidden": [32, 16]}}), seed=5)
    other.optimizer.build(other.trainable_variables)
    write_variables(other, previous / layout.CHECKPOINT_WEIGHTS)
    state = json.loads((previous / layout.CHECKPOINT_STATE).read_text())
    data = (previous / layout.CHECKPOINT_WEIGHTS).read_bytes()
    state.update(weights_bytes=len(data), weights_crc32=zlib.crc32(data))
    (previous / layout.CHECKPOINT_STATE).write_text(json.dumps(state))

    model = _compiled(seed=3)
    model.optimizer.build(model.trainable_variables)
    fresh = _weights(model)
    restored = Checkpointer(tmp_path / "ckpt").restore(model)
    assert (restored.epoch, restored.step, restored.path) == (0, 0, None)
    assert not model._initial_epoch and _same(_weights(model), fresh)  # nothing half-loaded stays
    assert [str(newest) in restored.warnings[0], str(previous) in restored.warnings[1]] == [True, True]
    assert restored.warnings[1].endswith("resuming from the start instead")
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def test_a_checkpoint_of_the_earlier_format_still_resumes(trained, tmp_path):
    """Before weights.npz, checkpoints held Keras' weights.weights.h5: a sweep interrupted then resumes."""
    newest, _ = _two_checkpoints(trained, tmp_path)
    saved = _compiled(seed=4)
    saved.optimizer.build(saved.trainable_variables)
    read_variables(saved, newest / layout.CHECKPOINT_WEIGHTS)
    (newest / layout.CHECKPOINT_WEIGHTS).unlink()
    saved.save_weights(newest / layout.LEGACY_CHECKPOINT_WEIGHTS)
    data = (newest / layout.LEGACY_CHECKPOINT_WEIGHTS).read_bytes()
    state = json.loads((newest / layout.CHECKPOINT_STATE).read_text())
    state.update(weights_bytes=len(data), weights_crc32=zlib.crc32(data))
    (newest / layout.CHECKPOINT_STATE).write_text(json.dumps(state))

    model = _compiled(seed=3)
    restored = Checkpointer(tmp_path / "ckpt").restore(model)
    assert (restored.epoch, restored.step, restored.path, restored.warnings) == (2, 10, newest, [])
    assert _same(_weights(model), _weights(saved))


def test_a_trial_with_only_garbage_checkpoints_starts_over_and_ends_ok(tiny_config, mnist, tmp_path):
    cfg = tiny_config(logging={"histograms_every": 0, "images": False})
    garbage = tmp_path / "tiny" / "t" / layout.CHECKPOINT / "ckpt-000007"
    garbage.mkdir(parents=True)
    (garbage / layout.CHECKPOINT_STATE).write_text('{"epoch": 3')
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "ok" and record.error is None and record.resumed_from_epoch == 0
    assert len(record.warnings) == 1 and str(garbage) in record.warnings[0] and "not valid JSON" in record.warnings[0]
    assert TrialRecord.load(tmp_path / "tiny" / "t").warnings == record.warnings
    assert not garbage.parent.exists()  # removed once the trial finished ok


# --- killing a real trial at random moments ---------------------------------------------

KILL_SEED = 20261126  # fixed: a failing schedule reproduces
EPOCHS = 4
KILL_CONFIG = {"name": "kill", "data": {"limit": 2000, "test_limit": 300},
               "train": {"epochs": EPOCHS, "batch_size": 100},
               "logging": {"checkpoint_steps": 3, "every_steps": 5, "histograms_every": 0, "images": False}}


def _trial_process(runs, eventlog, hold_at_fsync=None):
    """A worker's life: one run_trial (TensorFlow is imported before the fork, by the fork server).

    Ctrl-C is taken as a sweep's worker takes it (callbacks.Interruption: at the next batch boundary).
    `hold_at_fsync`: the run's n-th fsync of a checkpoint write holds there (a marker file says so)
    until the test's signal lands: a kill inside a write, by an event, not by a clock."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    signal.signal(signal.SIGINT, Interruption.request)
    if hold_at_fsync:
        real, calls = checkpoint._fsync, iter(range(1, 10**6))

        def held(path):
            real(path)
            if next(calls) == hold_at_fsync:
                (runs.parent / HELD).touch()
                while not Interruption.requested:  # (SIGKILL ends it here)
                    time.sleep(0.001)

        checkpoint._fsync = held
    record = run_trial(TrialSpec.single(schema.from_dict(KILL_CONFIG)), Workspace(runs, eventlog))
    sys.exit(0 if record.status == "ok" else 3)


HELD = "held-mid-write"
FSYNCS_A_SAVE = 4  # the weights, the state, the temporary folder, then (after the rename) the checkpoint folder


def _writes(ckpt_dir):
    """The temporary directories of checkpoint writes in `ckpt_dir` (in flight, or torn by a kill)."""
    try:
        return {n for n in os.listdir(ckpt_dir) if n.startswith(".ckpt-") and not n.endswith(".old.tmp")}
    except FileNotFoundError:
        return set()


def _run_once(ctx, tmp_path, sig, plan):
    """Start the trial and send `sig` as `plan` says: ("at", t) seconds in, or ("write", n, k): while the
    n-th checkpoint write of this run is held at its k-th fsync (1-3: before its rename). Returns (what
    happened, whether a write was in flight)."""
    ckpt_dir = tmp_path / "runs" / "kill" / "t" / layout.CHECKPOINT
    held = tmp_path / HELD
    held.unlink(missing_ok=True)
    left = _writes(ckpt_dir)  # torn by earlier kills
    hold = (plan[1] - 1) * FSYNCS_A_SAVE + plan[2] if plan[0] == "write" else None
    proc = ctx.Process(target=_trial_process, args=(tmp_path / "runs", tmp_path / "eventlog", hold))
    start = time.perf_counter()
    proc.start()
    while proc.is_alive():
        now = time.perf_counter() - start
        due = held.exists() if plan[0] == "write" else now >= plan[1]
        if due:
            in_write = bool(_writes(ckpt_dir) - left)
            os.kill(proc.pid, sig)
            proc.join(30)
            name = signal.Signals(sig).name
            return f"{plan}: {name} at {now:.3f}s mid-write {in_write}, exit {proc.exitcode}", in_write
        time.sleep(0.0005)
    return f"{plan}: not sent, ended at {time.perf_counter() - start:.2f}s, exit {proc.exitcode}", False


def _resume_point(run_dir):
    """What the next run starts from: the newest whole checkpoint's epoch and step."""
    found = checkpoints(run_dir / layout.CHECKPOINT)
    if not found:
        return "start"
    try:
        state = json.loads((found[0] / layout.CHECKPOINT_STATE).read_text())
    except (OSError, ValueError) as e:
        return f"{found[0].name} unreadable ({e})"
    return f"{found[0].name} (epoch {state['epoch']}, step {state['step']})"


@pytest.mark.slow
@pytest.mark.parametrize("sig,kills", [(signal.SIGKILL, 6), (signal.SIGINT, 4)], ids=["SIGKILL", "SIGINT"])
def test_a_trial_killed_at_random_moments_resumes_to_ok_with_every_epoch_once(sig, kills, tmp_path):
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["harness.training.trial", "harness.config.schema"])
    rng = random.Random(f"{KILL_SEED}-{sig}")
    run_dir = tmp_path / "runs" / "kill" / "t"
    log, landed, mid_write, record = [], 0, 0, None
    while record is None or not record.finished:
        assert len(log) < kills + 4, "\n".join(log)
        plan = (("at", 1e9) if landed == kills else  # then let it finish
                ("write", rng.randint(1, 10), rng.randint(1, FSYNCS_A_SAVE - 1)) if rng.random() < 0.7 else
                ("at", round(rng.uniform(0.05, 1.2), 2)))  # runs take 1.5 s (quiet machine) to 5 s
        start = _resume_point(run_dir)
        what, in_write = _run_once(ctx, tmp_path, sig, plan)
        landed, mid_write = landed + ("not sent" not in what), mid_write + in_write
        record = TrialRecord.load(run_dir)
        log.append(f"from {start}: {what} -> {record and record.status}")
    schedule = f"seed {KILL_SEED}, schedule:\n  " + "\n  ".join(log)
    assert record.status == "ok", schedule + f"\n{record.traceback}"
    history = pd.read_csv(run_dir / layout.HISTORY)
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1)), schedule
    assert landed >= kills - 2, schedule  # the kills did land (a few runs may end before their moment)
    assert mid_write >= 1, schedule  # and at least one inside a checkpoint write
    assert not (run_dir / layout.CHECKPOINT).exists(), schedule
