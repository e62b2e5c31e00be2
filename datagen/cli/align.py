"""``datagen align``: detect, landmark and align the faces of a dataset into canonical crops."""

from __future__ import annotations

from pathlib import Path

import click

from facecore.align import DETECTORS, EYE_DISTANCE, EYE_DISTANCE_RANGE

FILE_SOURCES = ("folder", "extended_yale_b", "multipie", "celeba")


@click.command("align")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@click.option("--source", type=click.Choice(FILE_SOURCES), default="folder", show_default=True,
              help="layout of SRC (its identity and lighting labels are carried over).")
@click.option("--size", type=click.IntRange(min=16), default=128, show_default=True,
              help="side of the aligned square crop, pixels.")
@click.option("--detector", type=click.Choice(DETECTORS), default="hog", show_default=True,
              help="dlib HOG (fast) or CNN/MMOD (more robust, slow on CPU).")
@click.option("--upsample", type=click.IntRange(0, 3), default=1, show_default=True,
              help="times the image is doubled before detection (finds smaller faces).")
@click.option("--eye-distance", type=click.FloatRange(*EYE_DISTANCE_RANGE), default=EYE_DISTANCE,
              show_default=True, help="framing: eye distance as a fraction of the crop side "
              "(the default matches the synthetic faces; larger is tighter).")
@click.option("--subjects", default=None, metavar="RANGE",
              help="extended_yale_b: only these subject numbers, e.g. 01-28 (training) or "
                   "29-39 (test).")
@click.option("--per-identity-reference", is_flag=True,
              help="fixed-pose datasets: when no face is found, reuse the transform of the "
                   "identity's uniform (reference) image.")
@click.option("--no-progress", is_flag=True, help="no progress bar.")
def align_cmd(src: Path, dst: Path, source: str, size: int, detector: str, upsample: int,
              eye_distance: float, subjects: str | None, per_identity_reference: bool,
              no_progress: bool) -> None:
    """Align the faces of SRC into DST (crops, landmarks.csv, labels.csv, align_report.csv).

    Resumable: run the same command again to finish an interrupted run.
    """
    from datagen.align_dataset import AlignConfig, align_source, padding_summary
    from datagen.sources import open_source
    from facecore.errors import UserInputError

    config = AlignConfig(size=size, detector=detector, upsample=upsample,
                         eye_distance=eye_distance, per_identity_reference=per_identity_reference)
    options = {"root": src}
    if subjects is not None:
        if source != "extended_yale_b":
            raise UserInputError("--subjects selects Extended Yale B subjects; it needs "
                                 "--source extended_yale_b")
        options["subjects"] = subjects
    counts = align_source(open_source(source, **options), dst, config, progress=not no_progress)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    click.echo(f"{dst}: {summary}")
    click.echo(f"{dst}: {padding_summary(dst)}")
