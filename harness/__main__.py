"""`python -m harness COMMAND ...`: the harness's commands besides running a sweep."""

from __future__ import annotations

import importlib
import os
import sys

from harness.quiet import filter_tensorflow_noise
from harness.venv import ensure_dependencies

# command -> ("module" or "module:function", one-line help); the function (default `main`) takes argv, returns the exit status
COMMANDS = {
    "sweep": ("harness.cli", "run a sweep (same as: python sweep.py CONFIG)"),
    "confirm": ("harness.cli:confirm_main", "race the top settings of a finished sweep with more seeds until the winner is clear"),
    "compare": ("harness.analysis.compare", "results tables: ranking, groups with confidence intervals, pivots, diffs"),
    "predict": ("harness.serving.predict", "predict digits in image files with a trained trial"),
    "serve": ("harness.serving.server", "a web page to draw digits and watch a trained trial predict them"),
    "hparams": ("harness.sweep.hparams_union", "rebuild the HParams dashboard's columns over eventlog/ (after deleting a sweep)"),
    "plot": ("harness.analysis.plots", "learning curves per trial, metric vs parameters and the accuracy/time Pareto front per sweep"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        print("usage: python -m harness COMMAND [options]   (COMMAND --help for its options)\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<{width}}  {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    ensure_dependencies(["-m", "harness", *argv], ".venv/bin/python -m harness ...")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output
    filter_tensorflow_noise()
    module, _, function = COMMANDS[argv[0]][0].partition(":")
    try:
        return getattr(importlib.import_module(module), function or "main")(argv[1:])
    except OSError as e:  # a file or disk fault no command foresaw: one line naming the path, not a traceback
        from harness.files import os_problem

        print(f"error: {os_problem(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
