"""CPGAN training throughput: one D + one G step per batch at the default and paper presets.

For each preset, in a fresh process (so the peak RSS is its own): build G, D and the
loss nets exactly as ``cpgan train`` does, stream batches from a shard directory with
``cpgan.data.train_loader``, run ``--warmup`` steps, then time ``--steps`` steps and
report steps/s, samples/s, the share of step time spent waiting for the loader
(target < 5%) and the peak RSS. All five loss terms are on.

    python benchmarks/train_step.py --data /tmp/cp_shards --batch-size 4 --steps 5
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


def measure(preset: str, data: str, batch_size: int, warmup: int, steps: int, workers: int,
            perceptual_width: float) -> dict[str, float]:
    """Time ``steps`` training steps after ``warmup``; loader wait measured around next()."""
    import contextlib

    from cpgan.config import ModelConfig
    from cpgan.data import train_loader
    from cpgan.losses import LossConfig, LossNets
    from cpgan.train import build_models, d_step, g_step, make_optimizer
    from cpgan.train_config import TrainConfig

    config = TrainConfig(model=ModelConfig.preset(preset),  # type: ignore[arg-type]
                         loss=LossConfig(perceptual_width=perceptual_width), batch_size=batch_size,
                         num_workers=workers)
    gen, disc = build_models(config)
    nets = LossNets(config.loss)
    opt_g = make_optimizer(gen.parameters(), config)
    opt_d = make_optimizer(disc.parameters(), config)
    total = warmup + steps
    loader = iter(train_loader(data, batch_size=batch_size, num_workers=workers, seed=0,
                               batches=total * max(1, workers), shuffle=config.shuffle_buffer))
    plain = contextlib.nullcontext()
    wait = busy = 0.0
    for i in range(total):
        t0 = time.perf_counter()
        batch = next(loader)
        t1 = time.perf_counter()
        out = gen(batch["nilr"], batch["guide"])  # as cpgan.train: G forward, D step, G step
        d_step(disc, opt_d, out.sr, batch["uihr"], amp=plain)
        g_step(out, disc, opt_g, nets, config, batch, amp=plain)
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
    ap.add_argument("--presets", nargs="+", default=["default", "paper"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--num-workers", type=int, default=1)
    ap.add_argument("--perceptual-width", type=float, default=1.0)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        json.dump(measure(args.child, args.data, args.batch_size, args.warmup, args.steps,
                          args.num_workers, args.perceptual_width), sys.stdout)
        return
    table = Table(title=f"CPGAN train step (CPU, batch {args.batch_size}, {args.steps} steps after "
                        f"{args.warmup} warm-up, {args.num_workers} loader worker(s), perceptual "
                        f"width {args.perceptual_width})")
    for col in ("preset", "G params (M)", "steps/s", "samples/s", "loader wait", "peak RSS (MB)"):
        table.add_column(col, justify="right")
    for preset in args.presets:
        cmd = [sys.executable, __file__, "--child", preset, "--data", args.data,
               "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--num-workers", str(args.num_workers),
               "--perceptual-width", str(args.perceptual_width)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        table.add_row(preset, f"{r['g_params_M']:.2f}", f"{r['steps_per_s']:.3f}",
                      f"{r['samples_per_s']:.2f}", f"{100 * r['loader_wait']:.1f}%",
                      f"{r['peak_rss_mb']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
