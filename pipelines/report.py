"""DVC stage `report`: one Markdown page from the pipeline's own metrics, params and grids.

    python pipelines/report.py reports/index.md

Reads only files other stages wrote (params.yaml, metrics/*.json, reports/*.png); it
computes nothing but the layout, so every number on the page is one `dvc metrics show`
also prints.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import yaml

STAGES = ("rain_pretrain", "rain_finetune", "synth", "shard_lighting", "train", "evaluate")

# Supplementary Table 1 (PSNR / SSIM), Multi-PIE | CelebA; key = loss terms.
PAPER_TABLE1 = {
    "mse,ic": ("L⁻", 22.943, 0.693, 23.262, 0.699),
    "mse,id,ic": ("L†", 23.036, 0.718, 24.103, 0.731),
    "mse,id,h,ic": ("L‡", 25.104, 0.782, 24.948, 0.755),
    "mse,id,h,ic,adv": ("L⋆", 24.639, 0.778, 23.972, 0.723),
    "mse": ("L⁻ w/o L_ic", 21.948, 0.689, 21.003, 0.516),
    "mse,id": ("L† w/o L_ic", 22.813, 0.694, 21.674, 0.552),
    "mse,id,h": ("L‡ w/o L_ic", 23.022, 0.701, 21.853, 0.588),
    "mse,id,h,adv": ("L⋆ w/o L_ic", 22.624, 0.692, 21.241, 0.543),
}
TERM_ORDER = ("mse", "id", "h", "ic", "adv")


def _weights_name(record: object) -> str:
    """A weights record (``facecore.perceptual``) as name and short sha256."""
    if not isinstance(record, dict):
        return "—"
    sha = record.get("sha256")
    return f"{record.get('name')}" + (f" (sha256 {str(sha)[:12]}…)" if sha else "")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "—" if value is None else str(value)


def canonical_terms(terms: list[str]) -> str:
    return ",".join(t for t in TERM_ORDER if t in set(terms))


def time_table(root: Path) -> list[str]:
    rows = ["| stage | wall time (s) |", "|---|---|"]
    total = 0.0
    for stage in STAGES:
        seconds = _load(root / "metrics" / "time" / f"{stage}.json").get("seconds")
        if seconds is not None:
            total += seconds
        rows.append(f"| {stage} | {_fmt(seconds, 1)} |")
    rows.append(f"| **total** | **{total:.1f}** |")
    return rows


def eval_table(root: Path, params: dict[str, Any]) -> list[str]:
    terms = canonical_terms(params.get("train", {}).get("loss", {}).get("terms", []))
    paper = PAPER_TABLE1.get(terms)
    rows = ["| method | split | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    for split in ("val", "test"):
        m = _load(root / "metrics" / f"eval_{split}.json")
        for method, label in (("bicubic", "bicubic"), ("cpgan", f"CPGAN ({terms or '?'})")):
            r = m.get(method, {})
            rows.append(f"| {label} | {split} | {_fmt(r.get('psnr'))} | {_fmt(r.get('ssim'))} |")
    if paper:
        name, mp_psnr, mp_ssim, ca_psnr, ca_ssim = paper
        rows.append(f"| paper {name} | Multi-PIE | {mp_psnr:.3f} | {mp_ssim:.3f} |")
        rows.append(f"| paper {name} | CelebA | {ca_psnr:.3f} | {ca_ssim:.3f} |")
    return rows


def validation_table(root: Path) -> list[str]:
    """The trainer's periodic validation (``runs/cpgan/plots/val.tsv``), if it ran."""
    path = root / "runs" / "cpgan" / "plots" / "val.tsv"
    if not path.is_file():
        return ["(no validation during training: set `train.val_every`)"]
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = ["| step | CPGAN PSNR | CPGAN SSIM | bicubic PSNR | bicubic SSIM |",
           "|---|---|---|---|---|"]
    out += [f"| {r['step']} | {float(r['psnr']):.2f} | {float(r['ssim']):.4f} | "
            f"{float(r['bicubic_psnr']):.2f} | {float(r['bicubic_ssim']):.4f} |" for r in rows]
    return out


def identity_table(root: Path) -> list[str]:
    """Table 2's protocol: rank-1 of each probe kind against one UI-HR face per identity."""
    rows = ["| split | judge | bicubic | CPGAN | UI-HR | NI-HR |", "|---|---|---|---|---|---|"]
    caveats = set()
    for split in ("val", "test"):
        m = _load(root / "metrics" / f"eval_{split}.json")
        rank1 = m.get("identity_rank1")
        if rank1:
            rows.append(f"| {split} | {m.get('identity_net', 'dlib')} | "
                        + " | ".join(_fmt(rank1.get(k)) for k in ("bicubic", "cpgan", "uihr", "nihr"))
                        + " |")
        if m.get("identity_caveat"):
            caveats.add(m["identity_caveat"])
    if len(rows) == 2:
        return ["(no identity evaluation: set `evaluate.identity: true`)"]
    return rows + ([""] + [f"Caveat: {c}." for c in sorted(caveats)] if caveats else [])


def rain_table(root: Path) -> list[str]:
    m = _load(root / "metrics" / "rain.json")
    rows = ["| measure | RaIN output | uniformly lit input |", "|---|---|---|"]
    rows.append(f"| style distance to real non-uniform renders (VGG μ/σ) | "
                f"{_fmt(m.get('style_dist_relit_to_ni'), 4)} | "
                f"{_fmt(m.get('style_dist_content_to_ni'), 4)} |")
    rows.append(f"| 8×8 brightness-map distance to real non-uniform renders | "
                f"{_fmt(m.get('lighting_dist_relit_to_ni'), 4)} | "
                f"{_fmt(m.get('lighting_dist_content_to_ni'), 4)} |")
    rows.append(f"| relu4_1 content distance (output→input vs two faces) | "
                f"{_fmt(m.get('content_dist_relit_to_input'), 3)} | "
                f"{_fmt(m.get('content_dist_between_faces'), 3)} (between faces) |")
    identity = m.get("identity")
    if identity:
        rows.append(f"| dlib descriptor distance to the input (median; share < 0.6, the same "
                    f"person) | {_fmt(identity.get('dlib_distance_median'), 3)}; "
                    f"{_fmt(100 * identity.get('dlib_share_same_person', float('nan')), 1)} % "
                    f"| 0 |")
    return rows


def lighting_table(root: Path) -> list[str]:
    """Lighting-ratio statistics against the reference's: RaIN's outputs over their inputs
    (``metrics/rain.json``) and the train shards' NI-HR over UI-HR
    (``metrics/shard_lighting.json``), with the reference's own half-to-half distance."""
    measured = [(name, _load(root / "metrics" / file).get("lighting_ratio"))
                for name, file in (("RaIN (held-out faces)", "rain.json"),
                                   ("train shards", "shard_lighting.json"))]
    measured = [(name, ratio) for name, ratio in measured if ratio]
    if not measured:
        return ["(no lighting-ratio measurement in metrics/rain.json)"]
    reference = measured[0][1].get("reference", "reference")
    rows = [f"| statistic of log(NI / UI) | measured | n | p05 / median / p95 | {reference} "
            f"p05 / median / p95 | Wasserstein | reference half to half |",
            "|---|---|---|---|---|---|---|"]
    for stat, label in (("asymmetry", "left/right asymmetry"), ("range", "shadow range p95−p5")):
        for name, ratio in measured:
            cells = []
            for side in ("rain", "reference_stats"):
                q = ratio.get(side, {}).get(stat, {})
                cells.append(" / ".join(_fmt(q.get(k), 2) for k in ("p05", "median", "p95")))
            n = ratio.get("rain", {}).get(stat, {}).get("n")
            w = ratio.get("wasserstein_rain_to_reference", {}).get(stat)
            floor = ratio.get("wasserstein_reference_half_to_half", {}).get(stat)
            rows.append(f"| {label} | {name} | {n} | {cells[0]} | {cells[1]} | {_fmt(w, 3)} | "
                        f"{_fmt(floor, 3)} |")
    return rows


def render(root: Path) -> str:
    params = yaml.safe_load((root / "params.yaml").read_text())
    rain_model = params["rain"].get("model", {})
    synth = _load(root / "metrics" / "synth.json")
    rain = _load(root / "metrics" / "rain.json")
    evaluation = _load(root / "metrics" / "eval_test.json")
    lines = [
        "# Pipeline report",
        "",
        "Made by `dvc repro` (stage `report`) from this run's metrics; every number is also in "
        "`dvc metrics show`. Loss curves: `dvc plots show`.",
        "",
        "## What the run used",
        "",
        f"- device: `{params['train'].get('device')}`; seed {params['train'].get('seed')}",
        f"- perceptual weights: RaIN's VGG `{_weights_name(rain.get('perceptual_weights'))}`; "
        f"CPGAN losses: " + (", ".join(f"{k} `{_weights_name(v)}`" for k, v in
                                      evaluation.get("weights", {}).items()) or "—"),
        f"- RaIN: width {rain_model.get('width')}, {rain_model.get('image_size')} px, "
        f"{params['rain']['pretrain']['steps']} pretrain + {params['rain']['finetune']['steps']} "
        f"fine-tune steps",
        f"- synth: {synth.get('samples', {})} samples in {synth.get('shards', '—')} shards, "
        f"{_fmt(synth.get('samples_per_second'), 1)} samples/s, "
        f"{synth.get('bytes_per_sample', '—')} bytes/sample, relight `{params['synth']['config'].get('relight')}`",
        f"- CPGAN: model `{params['train'].get('model')}`, losses "
        f"`{','.join(params['train'].get('loss', {}).get('terms', []))}`, "
        f"{params['train']['steps']} steps of batch {params['train']['batch_size']}",
        "",
        "## Time per stage",
        "",
        *time_table(root),
        "",
        "## CPGAN against bicubic (UI-HR ground truth, RGB in [0, 1])",
        "",
        "The paper's numbers are for real Multi-PIE / CelebA faces at full training scale; ours "
        "are for the embedded synthetic faces at a CPU-sized budget. They are side by side for "
        "orientation, not as a like-for-like comparison.",
        "",
        *eval_table(root, params),
        "",
        f"Evaluated checkpoint: `{evaluation.get('checkpoint', '—')}` (step "
        f"{evaluation.get('step', '—')}: the best validation SSIM after "
        f"{params['train'].get('warmup_steps', 0)} warm-up steps of L_mse + L_h). "
        f"Validation during training ({params['train'].get('val_samples', '—')} val faces):",
        "",
        *validation_table(root),
        "",
        "![NI-LR | bicubic | CPGAN | UI-HR | guide](eval_grid.png)",
        "",
        "Identity (rank-1 against a gallery of one UI-HR face per identity of the split; the "
        "UI-HR probes include the gallery images themselves):",
        "",
        *identity_table(root),
        "",
        "## Stage 1: RaIN relighting",
        "",
        *rain_table(root),
        "",
        "![each row: a face, then random illuminations](rain_stylize.png)",
        "",
        "Lighting ratio of each relit face over its uniformly lit input (luminance, blurred, "
        "inside the face; `datagen.rain.lighting`), against the reference's lit faces over "
        "the same faces' uniform ones:",
        "",
        *lighting_table(root),
        "",
        "![lighting-ratio histograms: reference vs RaIN](rain_lighting.png)",
        "![lighting-ratio histograms: reference vs the train shards](shard_lighting.png)",
        "",
        "## Stage 2: synthesized pairs (test split)",
        "",
        "![NI-LR | NI-HR | UI-HR | guide](synth_preview.png)",
        "",
        "## Params",
        "",
        "```yaml",
        (root / "params.yaml").read_text().strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit("usage: report.py OUT.md")
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(Path.cwd()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
