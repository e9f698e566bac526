"""Plain data (parsed YAML) into frozen dataclasses, collecting every problem.

Generic: walks a dataclass's fields and type hints, refuses unknown keys
(suggesting the closest one), wrong types and values outside the bounds a
field declares in its metadata (`lo`, `hi`, `lo_open`, `hi_open`). Every
problem names its dotted key path, the bad value and what is allowed; all
are reported together in one ConfigError.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Literal

INT_MAX = 2**31 - 1  # the default upper bound of an integer value


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        super().__init__(f"{source}: " + ("\n  ".join(["invalid config:"] + problems) if len(problems) > 1 else problems[0]))


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}s"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _text_problem(value: str, meta) -> str | None:
    """What is wrong with a string against the field's `pattern` (e.g. a path component), or None."""
    pattern = meta.get("pattern")
    if pattern is None or re.fullmatch(pattern, value):
        return None
    return meta.get("pattern_doc") or f"must match {pattern}"


def _bounds_problem(value, meta) -> str | None:
    lo, hi = meta.get("lo"), meta.get("hi")
    bad_lo = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
    bad_hi = hi is not None and (value >= hi if meta.get("hi_open") else value > hi)
    if not (bad_lo or bad_hi):
        return None
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('lo_open') else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if meta.get('hi_open') else '<='} {hi}")
    return "must be " + " and ".join(parts)


def _convert(tp, value, path: str, meta: dict, problems: list[str]):
    """Return `value` as type `tp`, appending to `problems` what does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path, meta, problems)
    if dataclasses.is_dataclass(tp):
        if isinstance(tp, type) and hasattr(tp, "from_dict"):
            return tp.from_dict(value, path, problems)
        return build(tp, value, path, problems)
    if origin is Literal:
        if value not in typing.get_args(tp):
            problems.append(f"{path} = {value!r}: must be {_describe(tp)}")
        return value
    if origin is tuple:
        item = typing.get_args(tp)[0]
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_convert(item, v, f"{path}[{i}]", meta, problems) for i, v in enumerate(items))
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        problems.append(f"{path} = {value!r}: must be {_describe(tp)}" + _yaml_hint(tp, value))
        return value
    if tp is str and not _utf8(value):
        problems.append(f"{path} = {value!r:.80}: must be text that UTF-8 can encode (no lone surrogates)")
        return value
    if tp is float:
        try:
            value = float(value)
        except OverflowError:  # a YAML integer of hundreds of digits
            value = float("inf") if value > 0 else float("-inf")
        if value != value or value in (float("inf"), float("-inf")):
            problems.append(f"{path} = {value!r}: must be a finite number")
            return value
    if tp is int and meta.get("hi") is None:  # TensorFlow takes at most int32 for counts and sizes
        meta = {**meta, "hi": INT_MAX}
    why = _text_problem(value, meta) if tp is str else _bounds_problem(value, meta) if tp in (int, float) else None
    if why:
        problems.append(f"{path} = {value!r}: {why}")
    return value


def plain(value):
    """`value` as YAML would give it: numpy scalars and arrays as Python numbers, text and lists, tuples as lists.

    Configs also come from Python (a dict, a notebook's numpy values): every
    check and every writer downstream (YAML, JSON, TensorBoard's summaries)
    then sees the same plain types a YAML file gives.
    """
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # np.float64, np.str_, np.ndarray...
        return plain(value.tolist())
    return value


def _yaml_hint(tp, value) -> str:
    """Why a number may have arrived as text: YAML 1.1 reads `1e-3` (no dot) as a string."""
    if tp is float and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (YAML reads {value} as text; write it with a dot, like 1.0e-3)" if "e" in value.lower() else ""
    return ""


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def suggestion(word: str, valid, what: str = "keys") -> str:
    """`; did you mean 'x'?` for the closest valid word, else the list of valid ones."""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; valid {what}: {', '.join(valid)}"


def unknown_key(path: str, key: str, valid) -> str:
    return f"{path}{'.' if path else ''}{key}: unknown key{suggestion(key, valid)}"


def build(cls, raw, path: str = "", problems: list[str] | None = None):
    """Build dataclass `cls` from a mapping, checking keys, types and ranges."""
    own = problems is None
    problems = [] if own else problems
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"{path or 'config'} = {raw!r}: must be a mapping")
        raw = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            # a section validated in parts names its other parts' keys too, so `metrc` suggests `metric`
            problems.append(unknown_key(path, str(key), [*fields, *getattr(cls, "SIBLING_KEYS", ())]))
            continue
        kwargs[key] = _convert(hints[key], value, f"{path}.{key}" if path else key, dict(fields[key].metadata), problems)
    obj = None
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        problems.append(f"{path}: {e}")
    if own and problems:
        raise ConfigError(problems)
    return obj
