"""``extended_yale_b``: the Extended Yale Face Database B, cropped version, official layout.

Layout (Georghiades et al. 2001; Lee et al. 2005)::

    ROOT/CroppedYale/yaleB01/yaleB01_P00A+035E+15.pgm     192×168 grayscale, pose P00
                                 subject  azimuth elevation of the light (degrees)
    ROOT/CroppedYale/yaleB01/yaleB01_P00_Ambient.pgm      no light source: EXCLUDED
    ROOT/CroppedYale/yaleB01/yaleB01_P00.info             list of the subject's files (ignored)

38 subjects (yaleB01…yaleB39, no 14), 64 lightings each (a few files are missing
in the official archive; they are simply not there). ``A+000E+00`` (light at the
camera) is "uniform", every other direction "non-uniform"; meta holds ``azimuth``
and ``elevation``. The ambient image (no flash, very dark) has no direction and no
place in a uniform/non-uniform pair, so it is excluded; ``include_ambient=True``
keeps it, marked ``illumination=None`` and ``meta["ambient"]=True``. ``ROOT`` may be
the folder holding ``CroppedYale/`` or ``CroppedYale/`` itself. ``subjects`` ("01-28",
"29-39") keeps only those subjects, so training and test identities can be aligned and
synthesised apart, as the dataset's literature splits them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from facecore.errors import UserInputError
from datagen.sources.base import parse_subjects
from datagen.sources.indexed import ImageIndex, IndexedSource, require

LAYOUT = "an Extended Yale B root holds CroppedYale/yaleBNN/yaleBNN_P00A+aaaE+ee.pgm files"
NAME = re.compile(r"^(yaleB\d{2})_P00(?:A([+-]\d{3})E([+-]\d{2})|(_Ambient))\.pgm$")


class ExtendedYaleB(IndexedSource):
    """Cropped Extended Yale B, pose P00, all subjects under ``root``."""

    name: ClassVar[str] = "extended_yale_b"
    licence: ClassVar[str] = ("Extended Yale Face Database B: free for research use; cite "
                              "Georghiades, Belhumeur, Kriegman (PAMI 2001) and Lee, Ho, "
                              "Kriegman (PAMI 2005)")

    def __init__(self, *, root: str | Path, include_ambient: bool = False,
                 subjects: str | None = None) -> None:
        root = Path(root)
        base = root if root.name == "CroppedYale" else require(root / "CroppedYale", LAYOUT)
        folders = sorted(d for d in base.glob("yaleB*") if d.is_dir())
        if not folders:
            raise UserInputError(f"{base}: no yaleBNN subject folders; {LAYOUT}")
        if subjects is not None:
            wanted = parse_subjects(subjects)
            folders = [d for d in folders if d.name[5:].isdigit() and int(d.name[5:]) in wanted]
            if not folders:
                raise UserInputError(f"{base}: no yaleBNN folder numbered in subjects "
                                     f"{subjects!r}")
        files, identities, lights, meta = [], [], [], []
        for folder in folders:
            for p in sorted(folder.glob("*.pgm")):
                m = NAME.match(p.name)
                if m is None or m.group(1) != folder.name:
                    raise UserInputError(f"{p}: unexpected name; want {folder.name}_P00A+aaaE+ee"
                                         f".pgm (or {folder.name}_P00_Ambient.pgm)")
                if m.group(4):
                    if not include_ambient:
                        continue
                    light, info = None, {"ambient": True}
                else:
                    az, el = int(m.group(2)), int(m.group(3))
                    light = "uniform" if az == 0 and el == 0 else "non-uniform"
                    info = {"azimuth": az, "elevation": el, "ambient": False}
                files.append(p.relative_to(root).as_posix())
                identities.append(folder.name)
                lights.append(light)
                meta.append(info)
        if not files:
            raise UserInputError(f"{base}: subject folders hold no .pgm images; {LAYOUT}")
        super().__init__(ImageIndex(root=root, files=files, identities=identities,
                                    illuminations=lights, meta=meta))
