"""mnist-harness: TensorBoard-instrumented MNIST sweeps.

The package reads as the data flows, each layer importing only those above it here
(tests/test_layers.py checks it):
    layout.py, record.py, files.py, metrics.py   every artifact's path, the trial record, safe writes
    config/     YAML schema, validation, search space, the registry of methods, plan (config -> trials)
    training/   data, models, optimizers, callbacks, summaries, one trial (the only TensorFlow);
                fusion/: compatible trials trained as one model
    search/     strategies (grid, random, list, tpe) and pruners: what trains next, what stops early
    racing/     the race of the top settings and its verdict
    analysis/   results table, compare, plots
    sweep/      engine (run_sweep), scheduler, local and Ray executors, progress, HParams, repairs
    serving/    preprocess, predict, the drawing page and its server
    cli.py      the commands that train (sweep.py, confirm); __main__.py: python -m harness COMMAND

The public API: `run_sweep`, and for new search methods `Strategy` (and the
planned ones `Planned`, `Grid`, `Random`, `Listed`) with `register_strategy`.
"""

_LAZY = {"run_sweep": ("harness.sweep.engine", "run_sweep"),
         "register_strategy": ("harness.config.methods", "register"),
         **{name: ("harness.search.strategies", name) for name in ("Strategy", "Planned", "Grid", "Random", "Listed")}}


def __getattr__(name):
    # Lazy: `import harness.config...` stays light (no pandas, tqdm or matplotlib).
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)


__all__ = list(_LAZY)
