"""mnist-harness: TensorBoard-instrumented MNIST sweeps.

The package reads as the data flows:
    config/     YAML schema, validation, search space, plan (config -> trials)
    training/   data, models, optimizers, callbacks, summaries, one trial (the only TensorFlow)
    sweep/      engine (run_sweep), scheduler, strategies and pruners, local and Ray executors, progress, HParams
    analysis/   results table, compare, plots
    serving/    preprocess, predict, the drawing page and its server
with layout.py (every artifact path), metrics.py, record.py and files.py shared.

The public API: `run_sweep`, and for new search methods `Strategy` (and the
planned ones `Planned`, `Grid`, `Random`, `Listed`) with `register_strategy`.
"""

_LAZY = {"run_sweep": ("harness.sweep.engine", "run_sweep"),
         "register_strategy": ("harness.sweep.strategies", "register"),
         **{name: ("harness.sweep.strategies", name) for name in ("Strategy", "Planned", "Grid", "Random", "Listed")}}


def __getattr__(name):
    # Lazy: `import harness.config...` stays light (no pandas, tqdm or matplotlib).
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)


__all__ = list(_LAZY)
