"""Throughput of the synthetic face source: faces/s for uniform and non-uniform light.

Renders the same faces at several batch sizes and prints one table: faces/s by
wall clock (best and median of ``--repeats`` runs: on a shared machine the best
run is the one least disturbed by other jobs), by process CPU time of the best
run, the ratio to batch size 1 measured in the same run, and the peak RSS of the
process so far (importing torch alone takes ~600 MB; the RSS after import is
printed too). The 1-minute load average before and after is printed with the
table, so a reader can tell how busy the machine was.

    python benchmarks/synthetic_faces.py --size 128 --faces 512 --threads 1 2

Rows are measured for each torch thread count: on a busy machine one thread can
beat two, because torch's intra-op threads wait for each other at every op.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from datagen.sources.synthetic import SyntheticFaces


def _measure(src: SyntheticFaces, lighting: str, batch: int, n_faces: int,
             repeats: int) -> tuple[float, float, float]:
    """Render ``n_faces`` faces in batches of ``batch``, ``repeats`` times.

    Returns (best wall seconds, median wall seconds, CPU seconds of the best run).
    """
    ids = np.arange(n_faces) % src.n_identities
    variants = np.arange(n_faces) % src.images_per_identity
    src.render(ids[:batch], variants[:batch], lighting=lighting)  # warm-up
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, n_faces, batch):
            src.render(ids[start:start + batch], variants[start:start + batch],
                       lighting=lighting)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    best = min(runs)
    return best[0], float(np.median([r[0] for r in runs])), best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--faces", type=int, default=512, help="faces per measurement")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch CPU thread counts to measure")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row (best is kept)")
    args = parser.parse_args()
    src = SyntheticFaces(size=args.size, n_identities=10_000)
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_before = os.getloadavg()[0]
    table = Table(title=f"synthetic faces {args.size}×{args.size}, {args.faces} faces per row "
                        f"(best of {args.repeats}), {os.cpu_count()} CPUs")
    for col in ("threads", "lighting", "batch", "faces/s best", "faces/s median", "faces/CPU-s",
                "best × batch 1", "peak RSS MB"):
        table.add_column(col, justify="right")
    for threads, lighting in [(t, li) for t in args.threads for li in ("uniform", "non-uniform")]:
        torch.set_num_threads(threads)
        baseline = None
        for batch in args.batch_sizes:
            n = args.faces if batch > 1 else max(32, args.faces // 8)  # batch 1 is slow
            best, median, cpu = _measure(src, lighting, batch, n, args.repeats)
            rate = n / best
            baseline = baseline or rate
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            table.add_row(str(threads), lighting, str(batch), f"{rate:.0f}",
                          f"{n / median:.0f}", f"{n / cpu:.0f}" if cpu > 0 else "-",
                          f"{rate / baseline:.2f}", f"{rss:.0f}")
    console = Console(width=120)
    console.print(table)
    console.print(f"RSS after imports: {rss_import:.0f} MB. 1-min load average: "
                  f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after, on "
                  f"{os.cpu_count()} CPUs (the machine is shared: above 1-2, other jobs "
                  f"compete for the cores and wall-clock rates drop).")


if __name__ == "__main__":
    main()
