"""``datagen faces``: a labelled grid PNG of the expected size; user errors are one line."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from datagen.cli import main
from facecore.imageio import read_image


def _grid_shape(n: int, cols: int, cell: int, pad: int = 2, label: int = 14) -> tuple:
    rows = -(-n // cols)
    return rows * (cell + label + pad) + pad, min(n, cols) * (cell + pad) + pad, 3


def test_faces_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(main, ["faces", "--source", "synthetic", "--n", "6", "--size",
                                       "32", "--cols", "4", "--lighting", "non-uniform",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    img = read_image(out)
    assert img.shape == _grid_shape(6, 4, 32)
    # the first tile is face 0 of the source, rendered non-uniform
    from datagen.sources.synthetic import SyntheticFaces

    face = SyntheticFaces(size=32, lighting="non-uniform")[0].image
    assert np.array_equal(img[2:34, 2:34], face)


def test_faces_landmarks_overlay_and_start(tmp_path):
    plain, marked = tmp_path / "a.png", tmp_path / "b.png"
    args = ["faces", "--n", "2", "--size", "48", "--start", "5", "--seed", "1"]
    assert CliRunner().invoke(main, args + ["--out", str(plain)]).exit_code == 0
    assert CliRunner().invoke(main, args + ["--landmarks", "--out", str(marked)]).exit_code == 0
    a, b = read_image(plain), read_image(marked)
    assert a.shape == b.shape == _grid_shape(2, 8, 48)
    assert not np.array_equal(a, b)


def test_step_shows_one_face_per_identity(tmp_path):
    out = tmp_path / "ids.png"
    result = CliRunner().invoke(main, ["faces", "--n", "3", "--size", "32", "--step", "16",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    from datagen.sources.synthetic import SyntheticFaces

    third = SyntheticFaces(size=32)[32].image                  # identity 2, variant 0
    x0 = 2 + 2 * (32 + 2)
    assert np.array_equal(read_image(out)[2:34, x0:x0 + 32], third)


def test_unknown_source_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["faces", "--source", "nosuch", "--out",
                                       str(tmp_path / "x.png")])
    assert result.exit_code == 1
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "nosuch" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_start_past_end_is_user_error(tmp_path):
    result = CliRunner().invoke(main, ["faces", "--start", str(10_000 * 16), "--size", "32",
                                       "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "past the end" in result.output
