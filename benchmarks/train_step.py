"""CPGAN training throughput: one (D +) G step per batch, per generator and loss setup.

For each model and each loss setup, in a fresh process (so the peak RSS is its own):
build G, D and the loss nets exactly as ``cpgan train`` does, stream batches from a
shard directory with ``cpgan.data.train_loader``, run ``--warmup`` steps, then time
``--steps`` steps and report steps/s, samples/s, the ratio to the table's first row
(the baseline, measured in the same run), the share of step time spent waiting for the
loader (target < 5%) and the peak RSS. Models: ``published`` (the paper's generator
design at the default widths: the embedded default before session 9), ``default``,
``tiny``, ``paper``. Loss setups:

- ``real``: all five terms with the real nets — ImageNet VGG-19 (L_ic at 64²) and dlib's
  face ResNet (L_id), D stepped;
- ``warm-up``: L_mse + L_h alone, D untouched (``cpgan train``'s ``warmup_steps``);
- ``random-0.25``: all five with the nets the embedded default used before real weights
  were available (seeded random VGG-19 and ResNet-50 at width 0.25, L_ic at 128²).

    python benchmarks/train_step.py --data data/shards --batch-size 8 --steps 10 --nets real warm-up
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

from cpgan.config import ModelConfig


NETS = {
    "random-0.25": dict(vgg_weights="random", identity_net="random", perceptual_width=0.25,
                        ic_size=None),
    "real": {},
    "warm-up": dict(terms=("mse", "h")),  # cpgan train's warm-up steps: no D, no loss nets
}
# "published": the generator as the paper builds it at the default preset's widths (spectral
# norm and GroupNorm in G, full-resolution guide keys): the embedded default before session 9.
PRESETS = {"published": lambda: ModelConfig(), "tiny": lambda: ModelConfig.preset("tiny"),
           "default": lambda: ModelConfig.preset("default"),
           "paper": lambda: ModelConfig.preset("paper")}


def measure(preset: str, nets_name: str, data: str, batch_size: int, warmup: int, steps: int,
            workers: int) -> dict[str, float]:
    """Time ``steps`` training steps after ``warmup``; loader wait measured around next()."""
    import contextlib

    from cpgan.data import train_loader
    from cpgan.losses import LossConfig, LossNets
    from cpgan.train import build_models, d_step, g_step, make_optimizer
    from cpgan.train_config import TrainConfig

    config = TrainConfig(model=PRESETS[preset](),
                         loss=LossConfig(**NETS[nets_name]), batch_size=batch_size,
                         num_workers=workers)
    gen, disc = build_models(config)
    nets = LossNets(config.loss)
    opt_g = make_optimizer(gen.parameters(), config)
    opt_d = make_optimizer(disc.parameters(), config)
    total = warmup + steps
    adversarial = "adv" in config.loss.terms
    loader = iter(train_loader(data, batch_size=batch_size, num_workers=workers, seed=0,
                               batches=total * max(1, workers), shuffle=config.shuffle_buffer))
    plain = contextlib.nullcontext()
    wait = busy = 0.0
    for i in range(total):
        t0 = time.perf_counter()
        batch = next(loader)
        t1 = time.perf_counter()
        out = gen(batch["nilr"], batch["guide"])  # as cpgan.train: G forward, D step, G step
        if adversarial:
            d_step(disc, opt_d, out.sr, batch["uihr"], amp=plain)
        g_step(out, disc if adversarial else None, opt_g, nets, config, batch, amp=plain)
        t2 = time.perf_counter()
        if i >= warmup:
            wait, busy = wait + (t1 - t0), busy + (t2 - t1)
    seconds = wait + busy
    return {"steps_per_s": steps / seconds, "samples_per_s": steps * batch_size / seconds,
            "loader_wait": wait / seconds,
            "g_params_M": sum(p.numel() for p in gen.parameters()) / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="shard directory (datagen synth output)")
    ap.add_argument("--presets", nargs="+", default=["published", "default"], choices=list(PRESETS))
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--num-workers", type=int, default=1)
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        preset, nets_name = args.child.split("/")
        json.dump(measure(preset, nets_name, args.data, args.batch_size, args.warmup, args.steps,
                          args.num_workers), sys.stdout)
        return
    table = Table(title=f"CPGAN train step (CPU, batch {args.batch_size}, {args.steps} steps after "
                        f"{args.warmup} warm-up, {args.num_workers} loader worker(s))")
    for col in ("model", "loss nets", "G params (M)", "steps/s", "samples/s", "× first row",
                "loader wait", "peak RSS (MB)"):
        table.add_column(col, justify="right")
    base = None
    for preset in args.presets:
        for nets_name in args.nets:
            cmd = [sys.executable, __file__, "--child", f"{preset}/{nets_name}", "--data",
                   args.data, "--batch-size", str(args.batch_size), "--warmup",
                   str(args.warmup), "--steps", str(args.steps), "--num-workers",
                   str(args.num_workers)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            base = base or r["steps_per_s"]
            table.add_row(preset, nets_name, f"{r['g_params_M']:.2f}", f"{r['steps_per_s']:.3f}",
                          f"{r['samples_per_s']:.2f}", f"{r['steps_per_s'] / base:.2f}",
                          f"{100 * r['loader_wait']:.1f}%", f"{r['peak_rss_mb']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
