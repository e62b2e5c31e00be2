"""Frozen, typed configs built once at the edge (CLI options or params.yaml).

``from_mapping`` is the single validating constructor: it rejects unknown keys
and values of the wrong type with a message naming the key, in the spirit of
nanoGPT's configurator, so a typo in ``params.yaml`` fails before any work.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import types
import typing
from typing import Any, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

from facecore.errors import UserInputError

C = TypeVar("C")


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in get_args(hint))
    if origin is typing.Literal:
        return value in get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(_matches(v, h) for v, h in zip(value, args))
        inner = args[0] if args else Any
        return all(_matches(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, Mapping)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _dataclass_in(hint: Any) -> Any:
    """``hint`` if it is a dataclass, the dataclass member of a union (``ModelConfig | str``), else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if get_origin(hint) in (Union, types.UnionType):
        return next((h for h in get_args(hint) if dataclasses.is_dataclass(h)), None)
    return None


def _coerce(value: Any, hint: Any) -> Any:
    """Normalise YAML/JSON forms: lists → tuples, ints → floats where a float is declared."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for h in get_args(hint):
            if _matches(value, h):
                return _coerce(value, h)
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        args = get_args(hint)
        if args and args[-1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        return tuple(_coerce(v, h) for v, h in zip(value, args))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_mapping(hint, value)
    return value


def from_mapping(cls: type[C], values: Mapping[str, Any], *, where: str = "") -> C:
    """Build the frozen dataclass ``cls`` from ``values``, checking keys and types.

    Raises ``UserInputError`` naming the offending key (prefixed by ``where``,
    e.g. ``params.yaml:synth``) for unknown keys and mistyped values.
    """
    prefix = f"{where}: " if where else ""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserInputError(
            f"{prefix}unknown config key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    missing = sorted(name for name, f in fields.items() if name not in values
                     and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise UserInputError(f"{prefix}missing config key(s) {', '.join(missing)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        nested = _dataclass_in(hint)
        if nested is not None and isinstance(value, Mapping):
            kwargs[key] = from_mapping(nested, value, where=f"{where}.{key}" if where else key)
            continue
        value = _coerce(value, hint)
        if not _matches(value, hint):
            raise UserInputError(
                f"{prefix}config key {key!r} must be {getattr(hint, '__name__', hint)}, "
                f"got {value!r}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


def read_params(spec: str | Path, section: str) -> tuple[dict[str, Any], str]:
    """Read one top-level section of a DVC ``params.yaml``: ``FILE`` (section ``section``)
    or ``FILE:SECTION``. Returns the section as a dict and its name ``FILE:SECTION``.

    Missing file, malformed YAML or a missing section raise ``UserInputError``.
    """
    import yaml  # local: only the CLIs that take --params need it

    path, colon, named = str(spec).rpartition(":")
    if not colon or not named or "/" in named:
        path, named = str(spec), section
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserInputError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    if named not in data or not isinstance(data[named], Mapping):
        raise UserInputError(f"{path}: no '{named}:' section (found: {', '.join(data) or 'none'})")
    return dict(data[named]), f"{path}:{named}"


def build_config(cls: type[C], params: str | Path | None, section: str,
                 overrides: Mapping[str, Any], *, where: str) -> C:
    """The config ``cls`` from a params section (``--params FILE[:SECTION]``, or none) with
    the command-line ``overrides`` on top: dotted keys (``"loss.weights.ic"``) set one
    field each, ``None`` means "not given". Every default is the dataclass's own.
    """
    values: dict[str, Any] = {}
    if params is not None:
        values, where = read_params(params, section)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = values
        for name in parents:  # made even for an option not given: a nested config exists
            child = node.get(name)
            node[name] = child = dict(child) if isinstance(child, Mapping) else {}
            node = child
        if value is not None:
            node[leaf] = value
    return from_mapping(cls, values, where=where)
