"""Every preset file parses into the configs its commands build (a typo fails here, not
half-way through someone's run)."""

from __future__ import annotations

from pathlib import Path

import pytest

import yaml

from cpgan.evaluate import EvalConfig
from cpgan.train_config import TrainConfig
from datagen.rain.run_config import RainEvalConfig, RainTrainConfig
from datagen.synth.config import SynthRun
from facecore.config import build_config

PRESETS = sorted((Path(__file__).parents[1] / "presets").glob("*.yaml"))
SECTIONS = {"synth": SynthRun, "train": TrainConfig, "evaluate": EvalConfig}
OPTIONAL = {"rain": RainTrainConfig, "rain_eval": RainEvalConfig}  # a recipe may reuse models/


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_sections_build_their_configs(preset):
    present = yaml.safe_load(preset.read_text())
    for section, cls in {**SECTIONS, **{k: v for k, v in OPTIONAL.items() if k in present}}.items():
        # the RaIN checkpoint is a command-line path (`--rain`), as dvc.yaml gives it
        given = {"config.rain_checkpoint": "models/rain.pt"} if section == "synth" else {}
        config = build_config(cls, str(preset), section, given, where=preset.name)
        assert isinstance(config, cls)


def test_yale_b_preset_frames_l_id_as_its_crops_are_aligned():
    preset = Path(__file__).parents[1] / "presets" / "yale_b.yaml"
    train = build_config(TrainConfig, str(preset), "train", {}, where="yale_b")
    synth = build_config(SynthRun, str(preset), "synth", {}, where="yale_b")
    assert train.loss.id_eye_distance == 0.5 and "--eye-distance 0.5" in preset.read_text()
    assert synth.config.relight == "real" and synth.config.split_fractions[2] == 0.0
