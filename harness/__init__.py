"""mnist-harness: TensorBoard-instrumented MNIST sweeps.

The package reads as the data flows:
    config/     YAML schema, validation, search space, plan (config -> trials)
    training/   data, models, optimizers, callbacks, summaries, one trial (the only TensorFlow)
    sweep/      engine (run_sweep), scheduler, strategies, local and Ray executors, progress, HParams
    analysis/   results table, compare, plots
    serving/    preprocess, predict, the drawing page and its server
with layout.py (every artifact path), metrics.py, record.py and files.py shared.
"""


def __getattr__(name):
    # Lazy: `import harness.config...` stays light (no pandas, tqdm or matplotlib).
    if name == "run_sweep":
        from harness.sweep.engine import run_sweep

        return run_sweep
    raise AttributeError(name)


__all__ = ["run_sweep"]
