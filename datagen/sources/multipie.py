"""``multipie``: CMU Multi-PIE in its distributed session/recording/camera tree.

Layout (Gross et al., 2010)::

    ROOT/data/session01/multiview/001/01/05_1/001_01_01_051_07.png
              session   (fixed)   subj rec camera  subject_session_recording_camera_illumination

Camera ``05_1`` (frontal) is read by default; the 20 illumination conditions are the
flashes 00–19 (00: room light only). Illumination ``07`` (the frontal flash, nearest the
frontal camera) is "uniform" by our design, every other condition "non-uniform".
Identity is the 3-digit subject id; session, recording, camera and flash go to meta.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from facecore.errors import UserInputError
from datagen.sources.indexed import ImageIndex, IndexedSource, require

LAYOUT = ("a Multi-PIE root holds data/sessionNN/multiview/<subject>/<recording>/<camera>/"
          "<subject>_<session>_<recording>_<camera>_<illumination>.png")
UNIFORM_FLASH = "07"
NAME = re.compile(r"^(\d{3})_(\d{2})_(\d{2})_(\d{3})_(\d{2})\.png$")


class MultiPie(IndexedSource):
    """Multi-PIE images of one camera (default the frontal ``05_1``)."""

    name: ClassVar[str] = "multipie"
    licence: ClassVar[str] = "CMU Multi-PIE licence: research use, no redistribution of images"

    def __init__(self, *, root: str | Path, camera: str = "05_1") -> None:
        root = Path(root)
        if not re.fullmatch(r"\d{2}_\d", camera):
            raise UserInputError(f"multipie source: camera must look like 05_1, got {camera!r}")
        data = require(root / "data", LAYOUT)
        sessions = sorted(data.glob("session*/multiview"))
        if not sessions:
            raise UserInputError(f"{data}: no session*/multiview folders; {LAYOUT}")
        paths = sorted(p for s in sessions for p in s.glob(f"*/*/{camera}/*.png"))
        if not paths:
            raise UserInputError(f"{data}: no images of camera {camera}; {LAYOUT}")
        files, identities, lights, meta = [], [], [], []
        for p in paths:
            m = NAME.match(p.name)
            subject, recording = p.parts[-4], p.parts[-3]
            session = p.parts[-6].removeprefix("session")
            if m is None or m.group(1) != subject or m.group(2) != session \
                    or m.group(3) != recording or m.group(4) != camera.replace("_", ""):
                raise UserInputError(f"{p}: name does not match its folders "
                                     f"(want {subject}_{session}_{recording}_"
                                     f"{camera.replace('_', '')}_<illumination>.png)")
            flash = m.group(5)
            files.append(p.relative_to(root).as_posix())
            identities.append(subject)
            lights.append("uniform" if flash == UNIFORM_FLASH else "non-uniform")
            meta.append({"session": session, "recording": recording, "camera": camera,
                         "flash": int(flash)})
        super().__init__(ImageIndex(root=root, files=files, identities=identities,
                                    illuminations=lights, meta=meta))
