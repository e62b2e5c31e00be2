"""The dataset card: ``README.md`` beside the shards, for whoever receives them."""

from __future__ import annotations

import json
from pathlib import Path

from datagen.shards import Manifest
from datagen.shards.tarwrite import write_atomic
from datagen.sources import SOURCES


def dataset_card(manifest: Manifest) -> str:
    header = manifest.header
    config = header["config"]
    counts = manifest.split_counts()
    source_cls = SOURCES.get(config["source"])
    licence = getattr(source_cls, "licence", "see the source's own terms")
    rows = "\n".join(f"| {s} | {sum(1 for r in manifest.shards.values() if r.split == s)} | "
                     f"{counts[s]:,} |" for s in ("train", "val", "test") if s in counts)
    relight = {"rain": "RaIN (random-style AdaIN relighting, stage 1)",
               "physical": "the synthetic source's own render under a random directional light",
               "real": "a real non-uniformly lit photo of the same identity",
               "geometric": "the uniformly lit face relit through a 3D face template fitted "
                            "to its landmarks, under a random directional light"}[config["relight"]]
    return f"""# Shaded-thumbnail face hallucination pairs (shard schema v{manifest.schema})

Made by `datagen synth` ({header.get('generator', 'datagen')}). Each sample is a
16×16 non-uniformly lit, geometrically jittered thumbnail (`nilr.png`), the
128×128 relit face it came from (`nihr.png`), the 128×128 uniformly lit ground
truth (`uihr.png`), a uniformly lit guide face of another identity
(`guide.png`) and a `json` record. Field-by-field schema and reading snippets
(plain `webdataset`, Hugging Face `datasets`): `docs/shards.md` of the project.

## Contents

| split | shards | samples |
|---|---|---|
{rows}

Splits are identity-disjoint (stable hash of the identity label).

## How it was made

- source: `{config['source']}` {json.dumps(config.get('source_options') or {})}
- relighting (NI-HR): {relight}
- RaIN checkpoint sha256: `{header['models'].get('rain_sha256') or 'n/a'}`
- perceptual weights of RaIN's encoder: `{header['models'].get('perceptual') or 'n/a'}`
- seed {config['seed']}; every sample is a pure function of (seed, split, index):
  re-running the same command reproduces the same bytes.
- warp: rotation ±{config['max_rotation']}°, scale {config['scale_range']}, shift
  ±{config['max_translation']}·{config['hr_size']} px; NI-LR by antialiased bicubic
  resize to {config['lr_size']}×{config['lr_size']}.

Full config:

```json
{json.dumps(config, indent=1, sort_keys=True)}
```

## Licence notes

Source `{config['source']}`: {licence}. Check the source dataset's terms before
redistributing derived images.
"""


def write_card(folder: Path, manifest: Manifest) -> Path:
    path = Path(folder) / "README.md"
    write_atomic(path, dataset_card(manifest).encode())
    return path
