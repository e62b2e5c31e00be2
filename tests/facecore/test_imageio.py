import numpy as np
import pytest

from facecore.errors import UserInputError
from facecore.grid import make_grid
from facecore.imageio import decode_png, encode_png, list_images, read_image, write_image


def test_png_round_trip_is_lossless_and_deterministic():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    data = encode_png(img)
    assert data == encode_png(img.copy())
    np.testing.assert_array_equal(decode_png(data), img)


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="no such image file"):
        read_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UserInputError, match="bad.png: not a readable image"):
        read_image(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no images found"):
        list_images(tmp_path / "empty")
    with pytest.raises(UserInputError, match="no such folder"):
        list_images(tmp_path / "missing")


def test_write_then_read_gray_and_rgb(tmp_path):
    img = np.zeros((8, 6, 3), np.uint8)
    img[..., 0] = 200
    path = write_image(tmp_path / "a" / "x.png", img)
    np.testing.assert_array_equal(read_image(path), img)
    assert list_images(tmp_path) == [path]


def test_grid_size():
    tiles = [[np.zeros((16, 16, 3), np.uint8)] * 3] * 2
    grid = make_grid(tiles, cell=32, labels=[["a", "b", "c"]] * 2, row_titles=["r1", "r2"])
    assert grid.shape == (2 * (14 + 32 + 14 + 2) + 2, 3 * 34 + 2, 3)
