"""The sweep methods a config may name (`sweep.method`): a registry of names, below the code that runs them.

The config checks a method's name, its `sweep` section and its size against
the method's class (harness/search/strategies.py: `check`, `count`,
`settings`), so it needs the registry, never the engine. The built-in methods
are registered by the module that defines them, loaded by name on first use
(tpe's imports Optuna: only a sweep that asks for it pays for it); a new
method registers itself with `register` (harness.register_strategy).
"""

from __future__ import annotations

import importlib
from typing import Callable

# method name -> its Strategy class, or the module that registers it when imported
STRATEGIES: dict[str, type | str] = {
    "grid": "harness.search.strategies", "random": "harness.search.strategies", "list": "harness.search.strategies",
    "tpe": "harness.search.tpe",
}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: `sweep.method: NAME` in a config now means this Strategy subclass."""
    def add(cls: type) -> type:
        taken = STRATEGIES.get(name)
        if taken is not None and taken != cls.__module__:  # only a built-in's own module fills its place
            raise ValueError(f"sweep method {name!r} is registered already "
                             f"({getattr(taken, '__qualname__', taken)}): choose another name")
        cls.method = name
        STRATEGIES[name] = cls
        return cls
    return add


def names() -> list[str]:
    """The methods a config may name."""
    return list(STRATEGIES)


def strategy_class(method: str) -> type:
    """The class registered under `method` (a name `names()` gives), its module imported if need be."""
    entry = STRATEGIES[method]
    if isinstance(entry, str):
        importlib.import_module(entry)  # registers the class under `method`
        entry = STRATEGIES[method]
    return entry
