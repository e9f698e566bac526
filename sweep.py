#!/usr/bin/env python3
"""Run a sweep of MNIST trainings: `python sweep.py experiments/quick.yaml` (see --help)."""

import os
import sys

if __name__ == "__main__":
    from harness.venv import ensure_dependencies  # standard library only: importable by any Python

    ensure_dependencies(sys.argv, ".venv/bin/python sweep.py ...")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output
    from harness.cli import main

    sys.exit(main())
