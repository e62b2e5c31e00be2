"""Face-identity embedding (not trained here) and rank-1 identification accuracy.

The embedding is dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``,
99.38% on LFW, from the face-recognition-models package): 128-D, and two photos of
one person are usually < 0.6 apart in Euclidean distance. dlib needs landmarks to cut
its 150×150 face chip; for our canonical aligned crops they are known:

- ``landmarks`` passed to ``embed`` (e.g. the shard's ``landmarks_uihr``) are used as given;
- ``shape="template"`` (default): the canonical template of ``facecore.align`` scaled to the
  crop — right for aligned crops, robust on dark or hallucinated faces, and the same chip
  for every face, so only the face content differs;
- ``shape="predict"``: the 68-point predictor run on the box where the template puts the
  face (what a detector would return), for crops that are only roughly aligned.

Paper Table 2 protocol: gallery = one uniform image per identity; probes = bicubic NI-LR,
hallucinated faces, UI-HR; ``rank1_accuracy`` is the fraction of probes whose nearest
gallery embedding has the probe's identity.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facecore.align import EYE_DISTANCE, INNER, canonical_template
from facecore.dlib_models import FRONTAL_68, RESNET_DESCRIPTOR, model_path
from facecore.errors import UserInputError

Shape = Literal["template", "predict"]
EMBEDDING_DIM = 128
BOX_SCALE = 1.15  # dlib HOG box side / width of the inner landmarks (measured on astronaut)


def dlib_shape(box, points: np.ndarray):
    """A ``dlib.full_object_detection`` of (68, 2) pixel (x, y) ``points`` in ``box`` (a
    ``dlib.rectangle``), points rounded to whole pixels as dlib stores them."""
    import dlib

    return dlib.full_object_detection(
        box, [dlib.point(int(round(x)), int(round(y))) for x, y in points])


def chip_grid(size: int, *, eye_distance: float = EYE_DISTANCE, padding: float = 0.25,
              chip_size: int = 150) -> torch.Tensor:
    """Where each pixel of dlib's face chip lies in an aligned ``size``² crop: a
    ``grid_sample`` grid (1, chip_size, chip_size, 2) in [-1, 1] (align_corners=True).

    The chip is the one ``compute_face_descriptor(img, shape, 0, padding)`` cuts for the
    canonical template's 68 landmarks (``FaceEmbedder(shape="template")``): dlib's
    ``get_face_chip_details`` gives the box and angle, and its ``get_mapping_to_chip`` sends
    the box's rotated top-left, top-right and bottom-right corners to the chip's corner
    pixels; the same affine map is written out here, so a torch model sees the chip dlib's
    runtime would see (bilinear, as dlib interpolates it).
    """
    import dlib

    shape = dlib_shape(dlib.rectangle(0, 0, size - 1, size - 1),  # the chip ignores the box
                       canonical_template(size, eye_distance=eye_distance))
    details = dlib.get_face_chip_details(shape, chip_size, padding)
    r = details.rect
    centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
    cos, sin = np.cos(details.angle), np.sin(details.angle)
    rotate = np.array([[cos, -sin], [sin, cos]])

    def corner(x: float, y: float) -> np.ndarray:
        return rotate @ (np.array([x, y]) - centre) + centre

    tl, tr, br = corner(r.left(), r.top()), corner(r.right(), r.top()), corner(r.right(), r.bottom())
    t = np.linspace(0.0, 1.0, chip_size)
    cols, rows = np.meshgrid(t, t)  # (chip, chip): x fraction, y fraction
    xy = tl + cols[..., None] * (tr - tl) + rows[..., None] * (br - tr)  # (chip, chip, 2) pixels
    return torch.from_numpy(xy / (size - 1) * 2 - 1).float()[None]


class AlignedFaceDescriptor(nn.Module):
    """dlib's face descriptor of aligned square crops, differentiable (for L_id).

    forward(x): (B, 3, S, S) RGB in [0, 1], framed as ``datagen align`` frames faces
    → (B, 128). The crop is resampled to dlib's 150² chip by the fixed ``chip_grid`` of
    the canonical template for its size — the same map for every face, so generated and
    real faces are compared in the same geometry — and run through the torch port of
    dlib's network (``facecore.dlib_resnet``). ``weights_record`` says which file it holds.
    """

    def __init__(self, *, eye_distance: float = EYE_DISTANCE, padding: float = 0.25) -> None:
        super().__init__()
        from facecore.dlib_resnet import load_dlib_face_resnet, weights_record

        self.eye_distance, self.padding = eye_distance, padding
        self.net = load_dlib_face_resnet()
        self.weights_record = weights_record()
        self._grids: dict[int, torch.Tensor] = {}  # crop size → chip_grid (CPU)

    def train(self, mode: bool = True) -> "AlignedFaceDescriptor":
        return super().train(False)  # frozen metric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
            raise ValueError(f"AlignedFaceDescriptor wants square (B, 3, S, S) crops in [0, 1], "
                             f"got {tuple(x.shape)}")
        size = int(x.shape[-1])
        if size not in self._grids:
            self._grids[size] = chip_grid(size, eye_distance=self.eye_distance,
                                          padding=self.padding)
        grid = self._grids[size].to(x.device, x.dtype).expand(len(x), -1, -1, -1)
        chips = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return self.net(chips)  # (B, 128)


class FaceEmbedder:
    """dlib ResNet face descriptors of aligned face crops (a stateless function, not trained)."""

    def __init__(self, *, shape: Shape = "template", eye_distance: float = EYE_DISTANCE,
                 padding: float = 0.25) -> None:
        import dlib

        if shape not in ("template", "predict"):
            raise UserInputError(f"unknown shape mode {shape!r}; choose template or predict")
        self.shape, self.eye_distance, self.padding = shape, eye_distance, padding
        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(model_path(RESNET_DESCRIPTOR)))
        self._predictor = dlib.shape_predictor(str(model_path(FRONTAL_68))) \
            if shape == "predict" else None

    def _template_box(self, size: int):
        inner = canonical_template(size, eye_distance=self.eye_distance)[INNER]
        lo, hi = inner.min(0), inner.max(0)
        cx, cy = (lo + hi) / 2
        half = BOX_SCALE * (hi[0] - lo[0]) / 2
        return self._dlib.rectangle(int(round(cx - half)), int(round(cy - half)),
                                    int(round(cx + half)), int(round(cy + half)))

    def _shape(self, image: np.ndarray, landmarks: np.ndarray | None):
        size = image.shape[0]
        box = self._template_box(size)
        if landmarks is None and self.shape == "predict":
            return self._predictor(image, box)
        points = canonical_template(size, eye_distance=self.eye_distance) \
            if landmarks is None else landmarks
        return dlib_shape(box, points)

    def embed(self, images: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of aligned square crops.

        images:    (B, S, S, 3) uint8 RGB, faces framed as ``datagen align`` frames them.
        landmarks: optional (B, 68, 2) pixel (x, y) in the crops.
        Returns (B, 128) float32; deterministic (no jitter).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 \
                or images.shape[1] != images.shape[2]:
            raise UserInputError(f"embed wants (B, S, S, 3) uint8 square crops, got "
                                 f"{images.shape} {images.dtype}")
        if landmarks is not None and np.shape(landmarks) != (len(images), 68, 2):
            raise UserInputError(f"embed: landmarks must be (B, 68, 2), got {np.shape(landmarks)}")
        out = np.empty((len(images), EMBEDDING_DIM), dtype=np.float32)
        for b, image in enumerate(images):
            image = np.ascontiguousarray(image)
            shape = self._shape(image, None if landmarks is None else landmarks[b])
            out[b] = np.asarray(self._net.compute_face_descriptor(image, shape, 0, self.padding))
        return out


def rank1_hits(probe_emb: np.ndarray, probe_ids: Sequence[str], gallery_emb: np.ndarray,
               gallery_ids: Sequence[str]) -> np.ndarray:
    """(P,) bool: whether each probe's nearest gallery embedding (Euclidean) has its identity.

    probe_emb: (P, D); gallery_emb: (G, D) float; ids: one label per row. Ties go to the
    first gallery row. Probes whose identity is not in the gallery are misses. Per probe, so
    two methods can be compared on the same probes (paired tests).
    """
    probe_emb, gallery_emb = np.asarray(probe_emb, np.float64), np.asarray(gallery_emb, np.float64)
    if probe_emb.ndim != 2 or gallery_emb.ndim != 2 or probe_emb.shape[1] != gallery_emb.shape[1]:
        raise UserInputError(f"rank-1 scoring wants (P, D) and (G, D) embeddings, got "
                             f"{probe_emb.shape} and {gallery_emb.shape}")
    if len(probe_ids) != len(probe_emb) or len(gallery_ids) != len(gallery_emb):
        raise UserInputError("rank-1 scoring: one identity per embedding row is needed")
    if len(probe_emb) == 0 or len(gallery_emb) == 0:
        raise UserInputError("rank-1 scoring: empty probe or gallery set")
    d2 = ((probe_emb[:, None, :] - gallery_emb[None, :, :]) ** 2).sum(-1)  # (P, G)
    nearest = np.asarray(gallery_ids, dtype=object)[d2.argmin(1)]
    return nearest == np.asarray(probe_ids, dtype=object)


def rank1_accuracy(probe_emb: np.ndarray, probe_ids: Sequence[str], gallery_emb: np.ndarray,
                   gallery_ids: Sequence[str]) -> float:
    """Fraction of probes whose nearest gallery embedding has the probe's identity
    (``rank1_hits``, averaged)."""
    return float(np.mean(rank1_hits(probe_emb, probe_ids, gallery_emb, gallery_ids)))
