"""The one config loader: types from the annotations, unknown and missing keys, overrides."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pytest

from stripes.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    read_yaml,
    register_migration,
)


@dataclass
class Inner:
    width: int = 4
    rate: float = 0.1


@dataclass
class Outer:
    name: str
    steps: int = 10
    lr: float = 1e-3
    flag: bool = False
    cap: int | None = None
    sizes: list[int | None] = field(default_factory=lambda: [16])
    pair: tuple[int, int] = (0, 1)
    stages: list[tuple[int, int]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_numbers_in_scientific_notation_are_numbers_even_when_yaml_reads_a_string(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nlr: 1e-3\nsteps: 1e4\ninner: {rate: 3E-4}\nextra: {a: 2e0}\n")
    assert read_yaml(path)["lr"] == "1e-3"  # what PyYAML itself gives
    cfg = load_config(Outer, path)
    assert (cfg.lr, cfg.steps, cfg.inner.rate, cfg.extra) == (1e-3, 10000, 3e-4, {"a": 2.0})
    assert isinstance(cfg.steps, int) and isinstance(cfg.lr, float)


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "steps": "six"}, "steps: expected an integer, got 'six'"),
    ({"name": "x", "steps": 2.5}, "steps: expected an integer, got 2.5"),
    ({"name": "x", "steps": True}, "steps: expected an integer, got True"),
    ({"name": "x", "lr": "fast"}, "lr: expected a number, got 'fast'"),
    ({"name": "x", "flag": "yes please"}, "flag: expected true or false"),
    ({"name": 3}, "name: expected a string, got 3"),
    ({"name": "x", "cap": "none"}, "cap: expected an integer or null"),
    ({"name": "x", "sizes": [16, "a"]}, r"sizes\[1\]: expected an integer or null"),
    ({"name": "x", "pair": [1, 2, 3]}, "pair: expected 2 entries, got 3"),
    ({"name": "x", "stages": [[0, "b"]]}, r"stages\[0\]\[1\]: expected an integer"),
    ({"name": "x", "inner": {"width": "w"}}, "inner.width: expected an integer"),
    ({"name": "x", "inner": 5}, "inner: expected a mapping of Inner fields"),
])
def test_a_wrong_type_names_the_key_and_the_value(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_unknown_keys_are_refused_with_the_closest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown key stpes \(did you mean 'steps'\?\)"):
        from_dict(Outer, {"name": "x", "stpes": 3})
    with pytest.raises(ConfigError, match=r"unknown key inner.widht \(did you mean 'width'\?\)"):
        from_dict(Outer, {"name": "x", "inner": {"widht": 3}})
    with pytest.raises(ConfigError, match="unknown key zzz; Inner takes width, rate"):
        from_dict(Inner, {"zzz": 1})


def test_a_missing_required_key_is_named():
    with pytest.raises(ConfigError, match="missing required key name"):
        from_dict(Outer, {"steps": 3})


def test_optional_lists_tuples_and_nested_defaults_are_kept():
    cfg = from_dict(Outer, {"name": "x", "cap": None, "sizes": [None, 8], "stages": [[1, 64]],
                            "inner": None})
    assert (cfg.cap, cfg.sizes, cfg.stages, cfg.inner) == (None, [None, 8], [(1, 64)], Inner())


def test_dotted_overrides_set_nested_values_read_as_yaml():
    data = apply_overrides({"name": "x", "inner": {"width": 2}},
                           ["inner.rate=3e-4", "steps=7", "sizes=[1, null]", "flag=true"])
    cfg = from_dict(Outer, data)
    assert (cfg.inner, cfg.steps, cfg.sizes, cfg.flag) == (Inner(2, 3e-4), 7, [1, None], True)
    with pytest.raises(ConfigError, match="not of the form section.key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ConfigError, match="name is not a section"):
        apply_overrides({"name": "x"}, ["name.first=a"])


def test_yaml_syntax_errors_and_non_mappings_say_where(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain: {lr: 1e-3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: YAML syntax error at line \d+, column \d+"):
        read_yaml(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys, got list"):
        read_yaml(listed)


def test_messages_from_a_file_start_with_its_path(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text("name: x\ninner: {width: wide}\n")
    with pytest.raises(ConfigError, match=r"task.yaml: inner.width: expected an integer"):
        load_config(Outer, path)


@dataclass
class Moved:
    """A config whose older shape kept ``width`` at the top (now ``inner.width``)."""

    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def _move_width(data: dict) -> dict:
    out = dict(data)
    if "width" in out:
        out["inner"] = {**(out.get("inner") or {}), "width": out.pop("width")}
    return out


register_migration(Moved, _move_width)


def test_an_older_shape_and_its_override_keys_migrate_with_one_note(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("width: 7\ninner: {rate: 0.5}\n")
    with pytest.warns(DeprecationWarning) as notes:
        cfg = load_config(Moved, path, ["width=9"])
    assert cfg == Moved(inner=Inner(9, 0.5))
    assert len(notes) == 1 and str(path) in str(notes[0].message)
    assert "--set width" in str(notes[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the current shape: no note
        assert load_config(Moved, {"inner": {"width": 9, "rate": 0.5}}) == cfg
        assert load_config(Moved, {}, ["inner.width=3"]).inner.width == 3
    with pytest.raises(ConfigError, match=r"unknown key inner.widht \(did you mean 'width'"):
        load_config(Moved, {}, ["inner.widht=3"])
