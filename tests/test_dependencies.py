"""The dependency direction of the packages: facecore ← datagen ← cpgan (through datagen.shards
only); pipelines import all, nothing imports pipelines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports_of(package: str, prefix: str) -> dict[str, set[str]]:
    pattern = re.compile(rf"^\s*(?:from\s+({prefix}[\w.]*)\s+import|import\s+({prefix}[\w.]*))",
                         re.M)
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for match in pattern.finditer(path.read_text()):
            found.setdefault(match.group(1) or match.group(2), set()).add(
                str(path.relative_to(ROOT)))
    return found


def test_cpgan_imports_datagen_only_through_its_shards():
    imported = _imports_of("cpgan", "datagen")
    assert imported, "cpgan reads datagen's shards, so it imports datagen.shards somewhere"
    others = {m: files for m, files in imported.items()
              if m != "datagen.shards" and not m.startswith("datagen.shards.")}
    assert others == {}, others


def test_facecore_imports_neither_datagen_nor_cpgan():
    assert _imports_of("facecore", "datagen") == {}
    assert _imports_of("facecore", "cpgan") == {}


def test_importing_cpgan_cli_loads_no_datagen_cli_or_sources():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import cpgan.cli"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = [line for line in proc.stderr.splitlines()
              if re.search(r"datagen\.(cli|sources)", line)]
    assert loaded == []
