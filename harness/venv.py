"""Commands typed with a Python that lacks the dependencies, and hints that work where they are printed.

Standard library only: this runs before anything else is importable.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
NEEDED = ("yaml", "pandas", "tensorboard")  # found, not imported: asking costs microseconds


def ensure_dependencies(argv: list[str], how: str) -> None:
    """Re-run `argv` (a command line after the interpreter) under the project's .venv when this
    Python lacks the dependencies, or exit with one line saying how to set up. `how` is the command
    as the user should type it, e.g. `.venv/bin/python sweep.py ...`."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return
    venv_python = VENV / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(venv_python), [str(venv_python), *argv])
    sys.exit(f"error: {missing[0]} is not installed for {sys.executable}; set up once with `make setup` "
             f"(creates .venv), then run `{how}` or `make run`")


def python() -> str:
    """This interpreter as the user can type it here: relative to the current folder when inside it."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def harness_command(args: str) -> str:
    """`python -m harness ARGS`, spelled to work where it is printed."""
    return f"{python()} -m harness {args}"


def tool(name: str) -> str:
    """A console script of this interpreter's environment (tensorboard) as typable here; the bare name
    when the environment has none (it is then on PATH, or nowhere)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
