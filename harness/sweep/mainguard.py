"""Refuse a sweep started from a script's top level without `if __name__ == "__main__":`.

Worker processes are spawned, and a spawned process re-imports the script
that started the parent (as `__mp_main__`): unguarded, every worker would
start the whole sweep again, and each trial would end "worker lost" with the
cause hidden in a hundred tracebacks. Checked once, before any worker starts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

GUARD = 'if __name__ == "__main__":'


class MissingMainGuard(RuntimeError):
    """run_sweep called where spawned workers would call it again."""


def _advice(where: str) -> str:
    return (f"run_sweep was called at the top level of {where} without `{GUARD}`: every worker process "
            "re-imports that script (Python's spawn start method) and would start the sweep again. "
            f"Put the call under the guard:\n\n    {GUARD}\n        outcome = run_sweep(...)\n")


def _guarded(node: ast.stmt) -> bool:
    """Whether `node` is `if __name__ == "__main__":` (either way round)."""
    test = node.test if isinstance(node, ast.If) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = {ast.unparse(test.left), ast.unparse(test.comparators[0])}
    return sides in ({"__name__", "'__main__'"}, {"__name__", '"__main__"'})


def check() -> None:
    """MissingMainGuard when the running script calls this (through run_sweep) unguarded; else nothing.

    Interactive sessions, notebooks and `python -c` have no script to re-import and pass.
    """
    main = sys.modules.get("__main__")
    if getattr(main, "__name__", None) == "__mp_main__":  # a worker re-importing an unguarded script
        raise MissingMainGuard(_advice(getattr(main, "__file__", "the main script")))
    path = getattr(main, "__file__", None)
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None or not path:
        return
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    top = next((n for n in tree.body if n.lineno <= line <= (n.end_lineno or n.lineno)), None)
    if top is not None and not _guarded(top):
        raise MissingMainGuard(_advice(f"{path} (line {line})"))
