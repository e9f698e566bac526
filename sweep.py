#!/usr/bin/env python3
"""Run a sweep of MNIST trainings: `python sweep.py experiments/quick.yaml` (see --help)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"


def _python_with_dependencies() -> None:
    """Typed with a Python that lacks the dependencies: re-run under the project's .venv, or say how to set up."""
    try:
        import tensorboard  # noqa: F401  (the lightest of the pinned requirements that the sweep itself needs)
        import yaml  # noqa: F401
    except ImportError as e:
        venv_python = VENV / "bin" / "python"
        if venv_python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        sys.exit(f"error: {e.name} is not installed for {sys.executable}; set up once with `make setup` "
                 f"(creates .venv), then run `.venv/bin/python sweep.py ...` or `make run`")


if __name__ == "__main__":
    _python_with_dependencies()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output
    from harness.cli import main

    sys.exit(main())
