"""``datagen align`` as a library function: align every image of a source into a folder.

Output (readable by the ``folder`` source)::

    DST/<relative path of the image, suffix .png>   (size, size, 3) aligned crops
    DST/landmarks.csv      file,x0,y0,...,x67,y67 — the landmarks in the crop
    DST/labels.csv         file,identity,illumination — carried over from the source
    DST/align_report.csv   source_file,file,status,faces,score,padding — one row per image
                           read; padding is the share of the crop outside the source image
    DST/align_config.json  the options used; a resume with other options is refused

Statuses: ``aligned`` (one face), ``several_faces`` (kept the highest-scoring
detection; the count is listed), ``reference`` (no face found: the identity's
reference transform was reused, see below), ``no_face`` (nothing written). Images
that fail are listed, never silently dropped.

``per_identity_reference`` is for fixed-pose datasets (Extended Yale B, Multi-PIE):
an identity's reference is its uniform image (if the source labels one) or else its
first image with a detected face; when detection fails on a dark image, the
reference's landmarks and transform are reused.

Resumable: the report row of an image is written (and flushed) last, after its
crop and CSV rows; a restart skips images already in the report and drops CSV rows
of an image whose report row never made it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Literal

import numpy as np

from facecore.align import DETECTORS, EYE_DISTANCE, Detector, FaceFinder, alignment_matrix, \
    canonical_template, padding_fraction, transform_points, warp_face
from facecore.config import to_dict
from facecore.errors import UserInputError
from facecore.imageio import read_image, write_image
from datagen.sources.folder import LABEL_COLUMNS, LABELS_CSV, LANDMARK_COLUMNS, LANDMARKS_CSV, \
    write_landmarks_row
from datagen.sources.indexed import IndexedSource

log = logging.getLogger(__name__)

REPORT_CSV = "align_report.csv"
CONFIG_JSON = "align_config.json"
REPORT_COLUMNS = ["source_file", "file", "status", "faces", "score", "padding"]
PADDING_WARN = 0.05  # crops with more padding than this are counted in the summary
Status = Literal["aligned", "several_faces", "reference", "no_face"]


@dataclass(frozen=True)
class AlignConfig:
    """Options of ``datagen align``; stored in ``align_config.json``."""

    size: int = 128
    detector: Detector = "hog"
    upsample: int = 1
    pad: float = 0.25
    per_identity_reference: bool = False
    eye_distance: float = EYE_DISTANCE

    def __post_init__(self) -> None:
        canonical_template(self.size, eye_distance=self.eye_distance)  # validates the framing
        if self.size < 16:
            raise UserInputError(f"align: size must be ≥ 16, got {self.size}")
        if self.detector not in DETECTORS:
            raise UserInputError(f"align: unknown detector {self.detector!r}; choose one of "
                                 f"{', '.join(DETECTORS)}")


def output_name(source_file: str) -> str:
    """The aligned crop's path relative to DST: same folders, ``.png`` suffix."""
    return PurePosixPath(source_file).with_suffix(".png").as_posix()


def _order(source: IndexedSource) -> list[int]:
    """Indices grouped by identity, each identity's uniform images first (references)."""
    rank = {"uniform": 0, "non-uniform": 1, None: 2}
    by_identity: dict[str, list[int]] = {}
    for i in range(len(source)):
        by_identity.setdefault(source.identity_of(i), []).append(i)
    return [i for ident in by_identity
            for i in sorted(by_identity[ident], key=lambda i: (rank[source.illumination_of(i)], i))]


class _Outputs:
    """The CSVs of DST, opened for appending after dropping rows of unfinished images."""

    def __init__(self, dst: Path) -> None:
        self.dst = dst
        done_rows = _read(dst / REPORT_CSV)
        self.done = {r["source_file"] for r in done_rows}
        done_files = {r["file"] for r in done_rows if r["file"]}
        self._files = {}
        for name, columns in ((REPORT_CSV, REPORT_COLUMNS), (LANDMARKS_CSV, LANDMARK_COLUMNS),
                              (LABELS_CSV, LABEL_COLUMNS)):
            path = dst / name
            rows = _read(path) if name != REPORT_CSV else done_rows
            keep = rows if name == REPORT_CSV else [r for r in rows if r["file"] in done_files]
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=columns, restval="")  # reports before padding
                w.writeheader()
                w.writerows(keep)
            tmp.replace(path)
            fh = path.open("a", newline="")
            self._files[name] = (fh, csv.writer(fh))
        self.counts = Counter(r["status"] for r in done_rows)

    def write(self, *, source_file: str, file: str, status: Status, faces: int, score: float,
              landmarks: np.ndarray | None, identity: str, illumination: str | None,
              padding: float | None = None) -> None:
        if landmarks is not None:
            fh, w = self._files[LANDMARKS_CSV]
            write_landmarks_row(w, file, landmarks)
            fh.flush()
            fh, w = self._files[LABELS_CSV]
            w.writerow([file, identity, illumination or ""])
            fh.flush()
        fh, w = self._files[REPORT_CSV]
        w.writerow([source_file, file, status, faces, f"{score:.4f}",
                    "" if padding is None else f"{padding:.4f}"])
        fh.flush()
        os.fsync(fh.fileno())
        self.counts[status] += 1

    def close(self) -> None:
        for fh, _ in self._files.values():
            fh.close()


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if None not in r and None not in r.values()]


def _check_config(dst: Path, config: AlignConfig, source: IndexedSource) -> None:
    wanted = {"config": to_dict(config), "source": source.name, "root": str(source.root)}
    path = dst / CONFIG_JSON
    if path.is_file():
        found = json.loads(path.read_text())
        if found != wanted:
            raise UserInputError(f"{path}: {dst} was aligned with other options or another "
                                 f"source ({found}); use a new output folder")
        return
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def align_source(source: IndexedSource, dst: str | Path, config: AlignConfig = AlignConfig(), *,
                 progress: bool = True) -> dict[str, int]:
    """Align every image of ``source`` into ``dst`` (see the module docstring).

    Returns the count of images per status (including those done by an earlier run).
    """
    dst = Path(dst)
    names = [output_name(f) for f in source.index.files]
    clashes = [n for n, c in Counter(names).items() if c > 1]
    if clashes:
        raise UserInputError(f"{source.root}: several images would be written to {clashes[0]} "
                             f"(same name, different suffix); rename one")
    dst.mkdir(parents=True, exist_ok=True)
    _check_config(dst, config, source)
    finder = FaceFinder(detector=config.detector, upsample=config.upsample, pad=config.pad)
    outputs = _Outputs(dst)
    references: dict[str, np.ndarray | None] = {}
    todo = [i for i in _order(source) if source.index.files[i] not in outputs.done]
    try:
        for i in _progress(todo, progress, f"aligning {source.name}"):
            _align_one(source, i, names[i], dst, config, finder, outputs, references)
    finally:
        outputs.close()
    counts = dict(outputs.counts)
    log.info("align: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts


def _reference(source: IndexedSource, identity: str, finder: FaceFinder,
               references: dict[str, np.ndarray | None]) -> np.ndarray | None:
    """Landmarks of ``identity``'s reference image (cached; recomputed after a resume)."""
    if identity not in references:
        references[identity] = None
        uniform = source.indices_of(identity, "uniform")
        candidates = uniform if uniform else source.indices_of(identity)
        for j in candidates:
            fit = finder.find(read_image(source.path_of(j)))
            if fit is not None:
                references[identity] = fit.landmarks
                break
    return references[identity]


def _align_one(source: IndexedSource, i: int, name: str, dst: Path, config: AlignConfig,
               finder: FaceFinder, outputs: _Outputs, references: dict[str, Any]) -> None:
    rel, identity = source.index.files[i], source.identity_of(i)
    image = read_image(source.path_of(i))
    fit = finder.find(image)
    if fit is not None:
        landmarks, faces, score = fit.landmarks, fit.n_faces, fit.score
        status: Status = "aligned" if faces == 1 else "several_faces"
        if identity not in references and source.illumination_of(i) == "uniform":
            references[identity] = landmarks
    else:
        landmarks = _reference(source, identity, finder, references) \
            if config.per_identity_reference else None
        faces, score = 0, 0.0
        status = "reference" if landmarks is not None else "no_face"
    if landmarks is None:
        log.debug("align: no face in %s", rel)
        outputs.write(source_file=rel, file="", status="no_face", faces=0, score=0.0,
                      landmarks=None, identity=identity, illumination=None)
        return
    matrix = alignment_matrix(landmarks, config.size, eye_distance=config.eye_distance)
    write_image(dst / name, warp_face(image, matrix, config.size))
    outputs.write(source_file=rel, file=name, status=status, faces=faces, score=score,
                  landmarks=transform_points(landmarks, matrix), identity=identity,
                  illumination=source.illumination_of(i),
                  padding=padding_fraction(image.shape, matrix, config.size))


def report_paddings(dst: str | Path) -> np.ndarray:
    """The ``padding`` of every crop written to ``dst`` (its report; rows of reports made
    before the column existed are left out)."""
    return np.array([float(r["padding"]) for r in _read(Path(dst) / REPORT_CSV)
                     if r["file"] and r.get("padding")])


def padding_summary(dst: str | Path) -> str:
    """One line on how much of the crops in ``dst`` is invented border (from its report)."""
    values = report_paddings(dst)
    if values.size == 0:
        return "padding: not recorded"
    over = int((values > PADDING_WARN).sum())
    return (f"padding (share of each crop outside its source image): median "
            f"{np.median(values):.3f}, max {values.max():.3f}; {over} of {values.size} crops "
            f"over {PADDING_WARN:.0%}" + (" — a model trained on them learns the black "
                                          "border (a larger --eye-distance frames tighter)"
                                          if over else ""))


def _progress(items: list[int], show: bool, label: str) -> Iterator[int]:
    if not show:
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
