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
  the key (``model.attention.kind``) and, from :func:`load_config`, the file.

:func:`apply_overrides` sets dotted ``section.key=value`` entries (values read as YAML) before the
check, which is what ``--set`` does on the command line. Every problem raises :class:`ConfigError`
(a ``ValueError``), which the command line prints as one line.

Older shapes: a config class may register a migration (:func:`register_migration`), a pure
function that rewrites a mapping of its old shape (also a partial one) into the current one.
:func:`from_dict` applies it at every level before the check, :func:`load_config` also to the
keys of the overrides (``model.attention=softmax`` sets ``model.attention.kind``), and one load
that migrated anything ends with one :class:`DeprecationWarning` line naming the sections.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import math
import re
import types
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
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


def check_plain_name(name: Any, key: str = "name") -> None:
    """Refuse (:class:`ConfigError`) a name that would lead a folder out of the one it is made
    in: empty, ``.`` or ``..``, holding a slash, or absolute."""
    text = str(name)
    if (not isinstance(name, str) or text.strip() in ("", ".", "..") or "/" in text
            or "\\" in text or text.startswith("~")):
        raise ConfigError(f"{key}: {name!r} must be a plain name (letters, digits, '-', '_', "
                          "'.'; no slash, not '..', not absolute): it names a folder inside --out")


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


def apply_overrides(data: dict[str, Any], overrides: Sequence[str],
                    cls: type | None = None) -> dict[str, Any]:
    """Set ``a.b.c=value`` entries (``value`` read as YAML) in the nested ``data``, in place;
    with ``cls``, a key of an older shape of ``cls`` is first moved where it lives now."""
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from None
        parts = key.strip().split(".")
        *path, last = parts if cls is None else migrated_key(cls, parts)
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
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
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
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
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


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of every init field of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in _fields(cls) if f.init}


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
    dotted path of ``data`` inside a larger config, for the messages. Data of an older shape is
    migrated first (:func:`register_migration`)."""
    with migration_note(cls.__name__):
        data = _migrate_level(cls, data, where)
        kwargs = check_keys(cls, data, where)
        prefix = f"{where}." if where else ""
        missing = [f.name for f in _fields(cls) if f.init and f.name not in kwargs
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
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
    """A checked ``cls`` from a YAML file (or a mapping), after ``key.path=value`` overrides
    (an older shape of the data or of an override's key migrated, with one note)."""
    is_file = not isinstance(source, Mapping)
    data = copy.deepcopy(dict(source)) if isinstance(source, Mapping) else read_yaml(source)
    try:
        with migration_note(str(source) if is_file else cls.__name__):
            return from_dict(cls, apply_overrides(migrate(cls, data), overrides, cls))
    except ConfigError as err:
        if is_file:
            raise ConfigError(f"{source}: {err}") from None
        raise


# --- older shapes --------------------------------------------------------------------------------
Migration = Callable[[dict[str, Any]], dict[str, Any]]
_MIGRATIONS: dict[type, Migration] = {}
_MIGRATED: ContextVar[list[str] | None] = ContextVar("stripes_config_migrated", default=None)


def register_migration(cls: type, rewrite: Migration) -> None:
    """Have :func:`from_dict` rewrite data of an older shape of ``cls`` with ``rewrite``: a pure
    function from a mapping (possibly partial: only the keys of one override) to the current
    shape, that leaves data of the current shape as it is; nested sections migrate themselves."""
    _MIGRATIONS[cls] = rewrite


def _migrate_level(cls: type, data: Any, where: str) -> Any:
    """``data`` through ``cls``'s own migration (its nested sections untouched), noted."""
    rewrite = _MIGRATIONS.get(cls)
    if rewrite is None or not isinstance(data, Mapping):
        return data
    new = rewrite(dict(data))
    noted = _MIGRATED.get()
    if new != data and noted is not None and (where or "top level") not in noted:
        noted.append(where or "top level")
    return new


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass an annotation holds (``X`` or ``X | None``), else None."""
    arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                types.UnionType) else (hint,)
    found = [a for a in arms if dataclasses.is_dataclass(a) and isinstance(a, type)]
    return found[0] if found else None


def migrate(cls: type, data: Any, where: str = "") -> Any:
    """``data`` (a mapping of ``cls`` fields) in the current shape, every nested section too."""
    data = _migrate_level(cls, data, where)
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for name, hint in field_types(cls).items():
        inner = _dataclass_of(hint)
        if inner is not None and isinstance(out.get(name), Mapping):
            out[name] = migrate(inner, out[name], f"{where}.{name}" if where else name)
    return out


class _Marker:
    """Stands for an override's value while its key is migrated."""


def migrated_key(cls: type, parts: Sequence[str]) -> list[str]:
    """The key path where an override's ``parts`` (``["model", "attention"]``) lives in the
    current shape of ``cls`` (``["model", "attention", "kind"]``); unchanged if it did not move."""
    marker = _Marker()
    partial: Any = marker
    for part in reversed(parts):
        partial = {part: partial}
    quiet = _MIGRATED.set(None)  # the key alone is noted, below
    try:
        found = _path_of(migrate(cls, partial), marker)
    finally:
        _MIGRATED.reset(quiet)
    if found is None or found == list(parts):
        return list(parts)
    noted = _MIGRATED.get()
    if noted is not None:
        noted.append(f"--set {'.'.join(parts)}")
    return found


def _path_of(data: Any, marker: _Marker) -> list[str] | None:
    if data is marker:
        return []
    if isinstance(data, Mapping):
        for key, value in data.items():
            rest = _path_of(value, marker)
            if rest is not None:
                return [str(key), *rest]
    return None


@contextlib.contextmanager
def migration_note(source: str) -> Iterator[None]:
    """Collect what is migrated inside (nested uses join the outermost) and, when that ends
    without an error, say it in one :class:`DeprecationWarning` line."""
    if _MIGRATED.get() is not None:
        yield
        return
    token = _MIGRATED.set([])
    try:
        yield
        sections = _MIGRATED.get() or []
    finally:
        _MIGRATED.reset(token)
    if sections:
        warnings.warn(f"{source}: config of an older shape migrated on load ({', '.join(sections)}"
                      "); write the nested shape of docs/cli.md (Configuration)",
                      DeprecationWarning, stacklevel=4)
