"""Face alignment: dlib detection + iBUG-68 landmarks + a similarity transform to a canonical crop.

The canonical crop is ``size``² pixels with the face placed by ``canonical_template``:
the iBUG-68 mean shape (OpenFace's normalised dlib mean, ``MEAN_SHAPE``) scaled so the
eye distance is ``EYE_DISTANCE`` of the crop and the eye midpoint sits at
``EYE_CENTRE`` — the framing of the synthetic faces, so real and synthetic crops match.
The transform (rotation, uniform scale, translation; no shear) is the least-squares
Umeyama fit of the 51 inner landmarks (brows, nose, eyes, mouth: the jaw line moves
with pose and is left out) to the template.

Detection runs on the image padded by ``pad`` of its size (replicated border): tight
crops such as Extended Yale B leave the HOG detector no context otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from facecore.dlib_models import CNN_DETECTOR, FRONTAL_68, model_path
from facecore.errors import UserInputError

Detector = Literal["hog", "cnn"]
DETECTORS: tuple[Detector, ...] = ("hog", "cnn")
INNER = slice(17, 68)  # brows, nose, eyes, mouth
EYE_DISTANCE = 0.225   # inter-ocular distance / crop size
EYE_CENTRE = (0.5, 0.434)  # eye midpoint / crop size
EYE_DISTANCE_RANGE = (0.05, 0.6)  # the framings a crop can hold a whole face at

# iBUG-68 mean shape normalised to the landmarks' min-max box (OpenFace ``align_dlib.TEMPLATE``,
# computed from dlib's 68-point training set), (68, 2) x, y.
MEAN_SHAPE = np.array([
    (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943),
    (0.0967927109165, 0.575648016728), (0.122141515615, 0.691921601066),
    (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
    (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149),
    (0.531777802068, 1.06080371126), (0.641296298053, 1.03981924107),
    (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
    (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421),
    (0.96111933829, 0.562238253072), (0.970579841181, 0.441758925744),
    (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
    (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323),
    (0.367460241458, 0.203582210627), (0.4392945113, 0.233135599851),
    (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
    (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114),
    (0.8707571886, 0.235293377042), (0.51534533827, 0.31863546193),
    (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
    (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668),
    (0.475501237769, 0.62076344024), (0.520712933176, 0.634268222208),
    (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
    (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002),
    (0.355749724218, 0.303020650651), (0.403718978315, 0.33867711083),
    (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
    (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267),
    (0.73597236153, 0.294721285802), (0.782865376271, 0.321305281656),
    (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
    (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073),
    (0.477677654595, 0.706835892494), (0.522732900812, 0.717092275768),
    (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
    (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972),
    (0.576410514055, 0.835436670169), (0.525398405766, 0.841706377792),
    (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
    (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612),
    (0.523389793327, 0.748924302636), (0.571057789237, 0.74332894691),
    (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
    (0.5240106503, 0.783370783245), (0.477561227414, 0.778476346951)], dtype=np.float64)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right (points 36–41, image left) and left (42–47) eyes of
    (68, 2) landmarks, or of each face of (..., 68, 2) ones."""
    return landmarks[..., 36:42, :].mean(-2), landmarks[..., 42:48, :].mean(-2)


def eye_distance_of(landmarks: np.ndarray, size: int) -> float:
    """The framing of ``size``² crops from their (B, 68, 2) landmarks: the median eye
    distance over the crop side (``EYE_DISTANCE`` for the canonical crop). NaN rows (no
    landmarks) are ignored; NaN if none has any."""
    right, left = eye_centres(np.asarray(landmarks, np.float64).reshape(-1, 68, 2))
    distance = np.linalg.norm(left - right, axis=1) / size
    distance = distance[np.isfinite(distance)]
    return float(np.median(distance)) if distance.size else float("nan")


def canonical_template(size: int = 128, *, eye_distance: float = EYE_DISTANCE) -> np.ndarray:
    """The 68 landmark positions of the canonical ``size``² crop, (68, 2) float32 pixel x, y.

    ``eye_distance``: inter-ocular distance as a fraction of ``size`` (larger: tighter crop).
    """
    low, high = EYE_DISTANCE_RANGE
    if not low <= eye_distance <= high:
        raise UserInputError(f"eye_distance must be in [{low}, {high}] of the crop, got "
                             f"{eye_distance}")
    right, left = eye_centres(MEAN_SHAPE)
    scale = eye_distance * size / np.linalg.norm(left - right)
    centre = (right + left) / 2
    return ((MEAN_SHAPE - centre) * scale + np.asarray(EYE_CENTRE) * size).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping points ``src`` (N, 2) onto ``dst`` (N, 2).

    Returns the (2, 3) float64 matrix ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]``.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"similarity_transform wants two (N≥2, 2) arrays, got {src.shape} "
                         f"and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine ``matrix`` to (N, 2) points; returns (N, 2) float32."""
    pts = np.asarray(points, np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def alignment_matrix(landmarks: np.ndarray, size: int = 128, *,
                     eye_distance: float = EYE_DISTANCE) -> np.ndarray:
    """The (2, 3) similarity taking a face with iBUG-68 ``landmarks`` to the canonical crop."""
    template = canonical_template(size, eye_distance=eye_distance)
    return similarity_transform(landmarks[INNER], template[INNER])


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int = 128) -> np.ndarray:
    """Warp (H, W, 3) uint8 ``image`` by ``matrix`` into a (size, size, 3) uint8 crop.

    Shrinking first goes through an area resize (antialiased), then a bilinear warp;
    pixels from outside the image are black (as insightface's ``norm_crop``): replicated
    borders smear into streaks on tight crops such as Extended Yale B.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    m = matrix.copy()
    if scale < 1.0:
        h, w = image.shape[:2]
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        m[:, :2] = m[:, :2] @ np.diag([w / sw, h / sh])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def padding_fraction(image_shape: tuple[int, ...], matrix: np.ndarray, size: int = 128) -> float:
    """Share of the ``size``² crop made by ``warp_face(image, matrix)`` whose pixel centres
    fall outside the ``image_shape`` (H, W, ...) source: the black border the crop invents.

    A tight dataset crop (Extended Yale B) aligned to a loose framing is mostly padding,
    and a model trained on it learns the black frame; this is how much.
    """
    h, w = image_shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (sx >= -0.5) & (sx <= w - 0.5) & (sy >= -0.5) & (sy <= h - 0.5)
    return float(1.0 - inside.mean())


@dataclass(frozen=True)
class FaceFit:
    """One face found in an image.

    landmarks: (68, 2) float32 pixel x, y in the image that was searched.
    box:       detector rectangle (left, top, right, bottom) in that image.
    score:     detector confidence (HOG SVM margin or MMOD confidence).
    n_faces:   how many faces the detector found (this is the highest-scoring one).
    """

    landmarks: np.ndarray
    box: tuple[int, int, int, int]
    score: float
    n_faces: int


class FaceFinder:
    """dlib face detector + 68-point shape predictor (model files from face-recognition-models).

    ``upsample``: times the image is doubled before detection (finds faces down to ~40 px
    at 1). ``pad``: fraction of the image size added on each side before detection.
    """

    def __init__(self, *, detector: Detector = "hog", upsample: int = 1, pad: float = 0.25) -> None:
        import dlib

        if detector not in DETECTORS:
            raise UserInputError(f"unknown detector {detector!r}; choose one of "
                                 f"{', '.join(DETECTORS)}")
        if not (isinstance(upsample, int) and 0 <= upsample <= 3):
            raise UserInputError(f"upsample must be an integer in 0..3, got {upsample!r}")
        if not 0.0 <= pad <= 1.0:
            raise UserInputError(f"pad must be in [0, 1], got {pad!r}")
        self.detector_name, self.upsample, self.pad = detector, upsample, pad
        self._detector = dlib.get_frontal_face_detector() if detector == "hog" else \
            dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR)))
        self._predictor = dlib.shape_predictor(str(model_path(FRONTAL_68)))

    def detect(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Faces in (H, W, 3) uint8 RGB ``image``: ((left, top, right, bottom), score), best first."""
        p = int(round(self.pad * max(image.shape[:2])))
        padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REPLICATE) if p else image
        padded = np.ascontiguousarray(padded)
        if self.detector_name == "hog":
            rects, scores, _ = self._detector.run(padded, self.upsample, 0.0)
            found = list(zip(rects, scores))
        else:
            found = [(d.rect, d.confidence) for d in self._detector(padded, self.upsample)]
        boxes = [((r.left() - p, r.top() - p, r.right() - p, r.bottom() - p), float(s))
                 for r, s in found]
        return sorted(boxes, key=lambda b: -b[1])

    def landmarks(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """iBUG-68 landmarks (68, 2) float32 of the face in ``box`` of (H, W, 3) uint8 ``image``."""
        import dlib

        p = int(round(self.pad * max(image.shape[:2])))
        padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REPLICATE) if p else image
        l, t, r, b = box
        shape = self._predictor(np.ascontiguousarray(padded),
                                dlib.rectangle(l + p, t + p, r + p, b + p))
        return np.array([[q.x - p, q.y - p] for q in shape.parts()], dtype=np.float32)

    def find(self, image: np.ndarray) -> FaceFit | None:
        """The highest-scoring face of ``image`` with its landmarks, or None if there is none."""
        boxes = self.detect(image)
        if not boxes:
            return None
        box, score = boxes[0]
        return FaceFit(self.landmarks(image, box), box, score, len(boxes))
