from dataclasses import dataclass
from typing import Literal

import pytest

from datagen.config import from_mapping, load_params_section, to_dict
from datagen.errors import UserInputError


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


def test_load_params_section(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("synth:\n  n: 5\nother: 1\n")
    assert load_params_section(p, "synth") == {"n": 5}
    with pytest.raises(UserInputError, match="no 'train:' section"):
        load_params_section(p, "train")
    with pytest.raises(UserInputError, match="not found"):
        load_params_section(tmp_path / "missing.yaml", "synth")
    p.write_text("synth: [unclosed\n")
    with pytest.raises(UserInputError, match="not valid YAML"):
        load_params_section(p, "synth")
