"""Where dlib's model files are: in ``face-recognition-models``, found without importing it.

That package's ``__init__`` imports ``pkg_resources``, which current setuptools no
longer ships, so importing it fails; ``importlib.util.find_spec`` only locates it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from facecore.errors import UserInputError

PACKAGE = "face_recognition_models"
FRONTAL_68 = "shape_predictor_68_face_landmarks.dat"
FRONTAL_5 = "shape_predictor_5_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
RESNET_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


def models_dir() -> Path:
    """The ``models/`` folder of the installed ``face_recognition_models`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise UserInputError(f"dlib model files not found: package {PACKAGE!r} is not installed; "
                             f"run `pip install face-recognition-models`")
    folder = Path(spec.origin).parent / "models"
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no models folder in {PACKAGE}; reinstall it with "
                             f"`pip install --force-reinstall face-recognition-models`")
    return folder


def model_path(filename: str) -> Path:
    """Path of one dlib model file (e.g. ``FRONTAL_68``), with an actionable error if absent."""
    path = models_dir() / filename
    if not path.is_file():
        raise UserInputError(f"{path}: dlib model file missing; reinstall it with "
                             f"`pip install --force-reinstall face-recognition-models`")
    return path
