"""One loader for every YAML: models, harmonization tasks, experiment grids, LM recipes.

A config is a dataclass; :func:`from_dict` builds one from plain data (a parsed YAML file) and
checks it against the field annotations:

- numbers: an ``int`` field takes integers (and integral floats, ``1e4``); a ``float`` field takes
  any number. PyYAML reads ``1e-3`` (no dot) as a *string*; a numeric string is accepted as the
  number it spells, everywhere a number is expected. Booleans are never numbers.
- ``bool`` takes booleans only; ``str`` takes strings only; ``X | None`` takes ``None`` too;
  ``list[X]``, ``tuple[X, Y]``, ``tuple[X, ...]``, ``dict[str, X]`` are checked element by element;
  a nested dataclass is built from a mapping (``None`` or an empty mapping: its defaults).
- unknown keys are refused by name, with the closest valid one (``difflib``); a required key
  (a field without default) that is missing is named; every message carries the dotted path of
  the key (``train.lr``) and, from :func:`load_config`, the file.

:func:`apply_overrides` sets dotted ``section.key=value`` entries (values read as YAML) before the
check, which is what ``--set`` does on the command line. Every problem raises :class:`ConfigError`
(a ``ValueError``), which the command line prints as one line.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and what is wrong."""


def closest(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_sizes(obj: Any, minimum: int | float, *names: str) -> None:
    """Refuse (:class:`ConfigError`) any of ``obj``'s fields ``names`` below ``minimum``, or a
    float that is not finite; ``None`` passes (it means "unset" / "all")."""
    for name in names:
        value = getattr(obj, name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value}")
        if value < minimum:
            raise ConfigError(f"{name}: must be >= {minimum}, got {value}")


# --- YAML and overrides --------------------------------------------------------------------------
def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file (``{}`` for an empty file).

    Raises:
        FileNotFoundError: no such file. ConfigError: a syntax error (with its line and column)
        or a document that is not a mapping.
    """
    path = Path(path)
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return dict(data)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` entries (``value`` read as YAML) in the nested ``data``, in place."""
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from None
        *path, last = key.strip().split(".")
        node = data
        for depth, part in enumerate(path):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                dotted = ".".join(path[: depth + 1])
                raise ConfigError(f"override {item!r}: {dotted} is not a section")
        node[last] = value
    return data


# --- checking against annotations ----------------------------------------------------------------
def _describe(hint: Any) -> str:
    if hint is type(None):
        return "null"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (list, tuple, dict):
        return {list: "a list", tuple: "a list", dict: "a mapping"}[origin]
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _wrong(value: Any, hint: Any, where: str) -> ConfigError:
    return ConfigError(f"{where}: expected {_describe(hint)}, got {value!r}")


def _number(value: Any, hint: type, where: str) -> int | float:
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(value, hint, where)
    if hint is float:
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise _wrong(value, hint, where)
        return int(value)
    return value


def check_value(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against the annotation ``hint`` (numbers converted; see module doc)."""
    if hint is Any or hint is typing.Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        errors = []
        for arm in arms:
            try:
                return check_value(value, arm, where)
            except ConfigError as err:
                errors.append(err)
        scalar = all(a in (int, float, bool, str) for a in arms)
        raise _wrong(value, hint, where) if scalar or len(errors) != 1 else errors[0]
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # built already (by its own from_dict)
            return value
        return from_dict(hint, {} if value is None else value, where=where)
    if hint in (int, float):
        return _number(value, hint, where)
    if hint in (bool, str):
        if not isinstance(value, hint):
            raise _wrong(value, hint, where)
        return value
    if origin in (list, tuple, Sequence):
        return _check_sequence(value, hint, origin, args, where)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _wrong(value, hint, where)
        vt = args[1] if args else Any
        return {k: check_value(v, vt, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and not isinstance(value, hint):
        raise _wrong(value, hint, where)
    return value


def _check_sequence(value, hint, origin, args, where):
    if not isinstance(value, (list, tuple)):
        raise _wrong(value, hint, where)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} entries, got {len(value)}")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(check_value(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
    item = args[0] if args else Any
    checked = [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(checked) if origin is tuple else checked


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of every init field of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def check_keys(cls: type, data: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The given entries of ``data`` checked against ``cls``'s fields (no defaults filled in).

    For sections kept as plain dicts (a task's ``model`` and ``train``): unknown keys and wrong
    types are refused as by :func:`from_dict`, and the checked values returned.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected {_describe(cls)}, got {data!r}")
    types_ = field_types(cls)
    prefix = f"{where}." if where else ""
    out = {}
    for key, value in data.items():
        if key not in types_:
            hint = closest(key, list(types_)) or f"; {cls.__name__} takes {', '.join(types_)}"
            raise ConfigError(f"unknown key {prefix}{key}{hint}")
        out[key] = check_value(value, types_[key], f"{prefix}{key}")
    return out


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the dataclass ``cls`` from ``data``, checked (module docstring); ``where`` is the
    dotted path of ``data`` inside a larger config, for the messages."""
    kwargs = check_keys(cls, data, where)
    prefix = f"{where}." if where else ""
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing required key {', '.join(prefix + m for m in missing)}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:  # the dataclass's own validation
        raise ConfigError(nest(where, str(err))) from None


def nest(where: str, message: str) -> str:
    """``message`` about a key of the section ``where``, with the key's path made whole."""
    if not where:
        return message
    for lead in ("unknown key ", "missing required key "):
        if message.startswith(lead):
            return f"{lead}{where}.{message[len(lead):]}"
    if re.match(r"^[\w.\[\]]+: ", message):
        return f"{where}.{message}"
    return f"{where}: {message}"


def load_config(cls: type[T], source: str | Path | Mapping[str, Any],
                overrides: Sequence[str] = ()) -> T:
    """A checked ``cls`` from a YAML file (or a mapping), after ``key.path=value`` overrides."""
    is_file = not isinstance(source, Mapping)
    data = read_yaml(source) if is_file else copy.deepcopy(dict(source))
    try:
        return from_dict(cls, apply_overrides(data, overrides))
    except ConfigError as err:
        if is_file:
            raise ConfigError(f"{source}: {err}") from None
        raise
