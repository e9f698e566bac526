"""Search strategies: the interface every sweep method implements, and grid, random and list (the registry of
method names is harness/config/methods.py).

A strategy owns its sweep's trials from end to end, so the engine never asks
which method a sweep uses:

- the config: what its `sweep` section must satisfy (`check`) and how many
  settings it can have at most (`count`), asked while the YAML is validated;
- the plan: which trial folders on disk may be its own (`folders`), the sweep's
  trials so far given those records (`trials`: how it resumes), how many trials
  the sweep has in all (`size`), how many this run may start (`to_run`), the
  line `--dry-run` and the report print (`summary`, `dry_run_lines`) and the
  order of its results (`order`);
- the run: the scheduler asks for the next trial (`ask`, None when there is
  nothing to start now: the scheduler asks again once a running trial is told,
  and ends when nothing runs), starts lost trials first (`retry`) and tells it
  every outcome (`tell`): the ask/tell seam of Optuna's Study, Ray Tune's
  searchers and keras-tuner's oracles.

Which trials may be stopped early is not a strategy's business but a pruner's
(harness/search/pruners.py), so any strategy composes with any pruner.

Grid, random and list sweeps know every setting up front (`Planned`); tpe
chooses settings as results come in (harness/search/tpe.py, which imports
Optuna: registered by module name, loaded only when a sweep asks for it).
A new method is a subclass registered under a name (see docs/code.md, "Adding a
search strategy"):

    @register("reverse")
    class Reverse(Grid):
        @classmethod
        def settings(cls, sweep):
            return list(super().settings(sweep))[::-1]
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from harness.config.methods import register, strategy_class
from harness.config.plan import Planner, TrialSpec
from harness.config.space import iter_settings
from harness.layout import SweepPaths
from harness.record import TrialRecord

if TYPE_CHECKING:
    from harness.config.schema import ExperimentConfig
    from harness.config.space import SweepConfig

def strategy_for(planner: Planner, paths: SweepPaths | None = None) -> "Strategy":
    """The strategy of `planner`'s sweep (paths: where its trials live, when it runs)."""
    return strategy_class(planner.config.sweep.method)(planner, paths)


class Strategy:
    """The interface the engine and the scheduler drive; see the module docstring."""

    method = ""  # set by `register`
    chooses = False  # True when results decide what trains next (the sweep's metric must not be a test one)
    takes_settings = False  # True when the sweep section lists its settings (`sweep.settings`)

    # --- the config ----------------------------------------------------------------------

    @classmethod
    def check(cls, sweep: SweepConfig) -> list[str]:
        """What is wrong with the sweep section for this method (each problem names its key)."""
        return []

    @classmethod
    def count(cls, sweep: SweepConfig) -> int:
        """How many settings the sweep has at most, without expanding them."""
        raise NotImplementedError

    # --- the plan ------------------------------------------------------------------------

    def __init__(self, planner: Planner, paths: SweepPaths | None = None):
        self.planner, self.paths, self.sweep = planner, paths, planner.config.sweep
        self._retries: deque[TrialSpec] = deque()

    def planned(self) -> list[TrialSpec]:
        """Validate every trial the sweep can have (ConfigError) and return those known up front."""
        raise NotImplementedError

    def folders(self) -> list[str]:
        """The trial folders on disk that may belong to the sweep."""
        return [s.trial_id for s in self.planned()]

    def trials(self, found: dict[str, TrialRecord | None]) -> list[TrialSpec]:
        """The sweep's trials so far, given the records found in `folders()`: what a resumed run continues."""
        return self.planned()

    def size(self, specs: list[TrialSpec]) -> int:
        """Trials in the whole sweep (or its budget)."""
        return len(specs)

    def to_run(self, specs: list[TrialSpec], todo: list[TrialSpec]) -> int:
        """Trials this run will start at most, `todo` (unfinished trials of `specs`) included."""
        return len(todo)

    def summary(self, plan: SweepPlan) -> str:
        """The one line a run or `--dry-run` starts with."""
        done = len(plan.specs) - len(plan.todo)
        return (f"{self.planner.config.name}: {len(plan.specs)} trials{pruner_text(self.sweep)}"
                + (f" ({done} already finished, {len(plan.todo)} to run)" if done else "")
                + (f"; {len(plan.strays)} trial(s) of an earlier plan kept out of results.csv" if plan.strays else ""))

    def dry_run_lines(self, plan: SweepPlan) -> list[str]:
        """What `--dry-run` prints after the list of trials known now."""
        return []

    def order(self, records: list[TrialRecord]) -> list[TrialRecord]:
        """The results' rows, in the order the sweep's report and results.csv show them."""
        return records

    # --- the run -------------------------------------------------------------------------

    def start(self, todo: list[TrialSpec], known: list[tuple[TrialSpec, TrialRecord]]) -> None:
        """Before the first ask: the trials to (re)start and those already on disk, with their records."""
        self._queue = deque(todo)

    def ask(self) -> TrialSpec | None:
        """The next trial to start, or None when there is nothing to start now."""
        return self._retries.popleft() if self._retries else self._next()

    def retry(self, spec: TrialSpec) -> None:
        """A trial whose worker was lost: it goes first, before any new one."""
        self._retries.append(spec)

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        """`spec` finished (ok, diverged, failed or pruned) as `record` says."""

    def _next(self) -> TrialSpec | None:
        return self._queue.popleft() if self._queue else None


@dataclass
class SweepPlan:
    """A validated sweep and where each of its trials stands; its strategy says what the numbers mean."""

    strategy: Strategy
    specs: list[TrialSpec]  # the sweep's trials so far (for a strategy that plans them all, every one)
    records: dict[str, TrialRecord | None]  # trial id -> record on disk, before this run
    todo: list[TrialSpec]
    strays: list[str]  # trials on disk that the plan no longer has

    @property
    def config(self) -> ExperimentConfig:
        return self.strategy.planner.config

    @property
    def paths(self) -> SweepPaths:
        return self.strategy.paths

    @property
    def size(self) -> int:
        """Trials in the whole sweep (or its budget)."""
        return self.strategy.size(self.specs)

    @property
    def to_run(self) -> int:
        """Trials this run will start, at most."""
        return self.strategy.to_run(self.specs, self.todo)

    @property
    def known(self) -> list[tuple[TrialSpec, TrialRecord]]:
        """The trials on disk that this run does not train, with their records."""
        return [(s, r) for s in self.specs if (r := self.records[s.trial_id]) is not None and s not in self.todo]

    def summary(self) -> str:
        return self.strategy.summary(self)

    def dry_run_lines(self) -> list[str]:
        return ([f"  {'done ' if s not in self.todo else 'to run'}  {s.trial_id}" for s in self.specs]
                + self.strategy.dry_run_lines(self))



def pruner_text(sweep: SweepConfig) -> str:
    """", pruner NAME" for the summary line of a sweep with an active pruner, else nothing."""
    return f", pruner {sweep.pruner.kind}" if sweep.pruner.kind != "none" else ""


class Planned(Strategy):
    """Sweeps whose settings are known up front: every trial planned and validated before any trains,
    handed out in plan order. Subclasses say which settings (`settings`; duplicates are dropped)."""

    _specs: list[TrialSpec] | None = None

    @classmethod
    def settings(cls, sweep: SweepConfig) -> Iterable[dict]:
        raise NotImplementedError

    def planned(self) -> list[TrialSpec]:
        if self._specs is None:
            self._specs = self.planner.validate_all(iter_settings(self.sweep))
        return self._specs


@register("grid")
class Grid(Planned):
    """Every combination of the parameters' values, in the order the parameters are listed."""

    @classmethod
    def check(cls, sweep: SweepConfig) -> list[str]:
        if any(p.values is None for p in sweep.parameters):
            return ["sweep.method = 'grid': every parameter needs a list of values "
                    "(distributions need method: random or tpe)"]
        return []

    @classmethod
    def count(cls, sweep: SweepConfig) -> int:
        return math.prod(len(p.values or ()) for p in sweep.parameters)

    @classmethod
    def settings(cls, sweep: SweepConfig) -> Iterable[dict]:
        paths = [p.path for p in sweep.parameters]
        return (dict(zip(paths, vals)) for vals in itertools.product(*(p.values for p in sweep.parameters)))


@register("random")
class Random(Planned):
    """`samples` draws from a generator seeded with `seed`: the same spec always gives the same settings."""

    @classmethod
    def count(cls, sweep: SweepConfig) -> int:
        return sweep.samples

    @classmethod
    def settings(cls, sweep: SweepConfig) -> Iterable[dict]:
        rng = random.Random(sweep.seed)
        return ({p.path: p.sample(rng) for p in sweep.parameters} for _ in range(sweep.samples))


@register("list")
class Listed(Planned):
    """The settings as written under `sweep.settings`."""

    takes_settings = True

    @classmethod
    def count(cls, sweep: SweepConfig) -> int:
        return len(sweep.settings)

    @classmethod
    def settings(cls, sweep: SweepConfig) -> Iterable[dict]:
        return iter(sweep.settings)
