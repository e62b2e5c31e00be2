from dataclasses import dataclass
from typing import Literal

import pytest

from facecore.config import build_config, from_mapping, read_params, to_dict
from facecore.errors import UserInputError


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5


@dataclass(frozen=True)
class Example:
    steps: int = 10
    lr: float = 1e-3
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    out: str | None = None
    inner: Inner = Inner()


def test_builds_and_coerces_yaml_forms():
    cfg = from_mapping(Example, {"steps": 3, "lr": 1, "sizes": [4, 5], "inner": {"rate": 2}})
    assert cfg == Example(steps=3, lr=1.0, sizes=(4, 5), inner=Inner(rate=2.0))
    assert isinstance(cfg.lr, float)
    assert to_dict(cfg)["sizes"] == [4, 5]


@pytest.mark.parametrize("values, needle", [
    ({"stepz": 3}, "stepz"),
    ({"steps": "3"}, "steps"),
    ({"steps": True}, "steps"),
    ({"mode": "c"}, "mode"),
    ({"sizes": [1, "x"]}, "sizes"),
    ({"inner": {"rat": 1}}, "rat"),
])
def test_rejects_unknown_keys_and_wrong_types(values, needle):
    with pytest.raises(UserInputError, match=needle):
        from_mapping(Example, values, where="params.yaml:example")


def test_read_params(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("synth:\n  n: 5\nother: {n: 6}\n")
    assert read_params(p, "synth") == ({"n": 5}, f"{p}:synth")
    assert read_params(f"{p}:other", "synth") == ({"n": 6}, f"{p}:other")
    with pytest.raises(UserInputError, match="no 'train:' section"):
        read_params(p, "train")
    with pytest.raises(UserInputError, match="not found"):
        read_params(tmp_path / "missing.yaml", "synth")
    p.write_text("synth: [unclosed\n")
    with pytest.raises(UserInputError, match="not valid YAML"):
        read_params(p, "synth")


def test_build_config_overrides_single_fields(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("example:\n  steps: 5\n  inner: {rate: 0.25}\n")
    cfg = build_config(Example, p, "example", {"lr": 0.5, "inner.rate": None, "steps": None},
                       where="cmd")
    assert cfg == Example(steps=5, lr=0.5, inner=Inner(rate=0.25))
    assert build_config(Example, None, "example", {"inner.rate": 2}, where="cmd").inner.rate == 2
    p.write_text("example:\n  inner: {rat: 1}\n")
    with pytest.raises(UserInputError, match=r"params.yaml:example.inner: unknown config key\(s\) rat"):
        build_config(Example, p, "example", {}, where="cmd")


@dataclass(frozen=True)
class Required:
    n: int


def test_missing_required_key_names_it():
    with pytest.raises(UserInputError, match="missing config key\\(s\\) n"):
        from_mapping(Required, {})
