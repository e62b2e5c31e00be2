"""Queue and run the supplementary's Table 1 as DVC experiments: the four loss sets
L⁻ (mse), L† (+id), L‡ (+h), L⋆ (+adv), each with and without L_ic.

    python pipelines/table1.py                 # queue the eight, run them, print the table
    python pipelines/table1.py --steps 200     # a shorter schedule (a -S train.steps=200 on each)
    python pipelines/table1.py --queue-only    # just queue; run later with `dvc exp run --run-all`
    python pipelines/table1.py --warmup-steps 0  # every variant's terms from the first step

The variants share params.yaml's warm-up (train.warmup_steps of L_mse + L_h, then their own
terms), so they differ only after it; `--warmup-steps 0` is the paper's schedule.

Each experiment is `dvc exp run --queue -n table1-<name> -S "train.loss.terms=[<terms>]"`: DVC reruns
only train → evaluate → report (RaIN and the shards are shared), and `dvc exp show` is the
table. Nothing here trains or measures; it is the command block the README documents.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import yaml

# Experiment name → loss terms (paper order: without L_ic, then with it).
VARIANTS = {
    "L-": "mse", "Lplus": "mse,id", "Lplusplus": "mse,id,h", "Lstar": "mse,id,h,adv",
    "L-ic": "mse,ic", "Lplus-ic": "mse,id,ic", "Lplusplus-ic": "mse,id,h,ic",
    "Lstar-ic": "mse,id,h,ic,adv",
}


def run(command: list[str]) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=None, help="override train.steps for all eight")
    ap.add_argument("--warmup-steps", type=int, default=None,
                    help="override train.warmup_steps for all eight (0: no warm-up)")
    ap.add_argument("--queue-only", action="store_true", help="queue, do not run")
    args = ap.parse_args(argv)
    extra = ["-S", f"train.steps={args.steps}"] if args.steps else []
    if args.warmup_steps is not None:
        extra += ["-S", f"train.warmup_steps={args.warmup_steps}"]
    train = yaml.safe_load(open("params.yaml")).get("train", {})
    steps = args.steps or train.get("steps", 0)
    warmup = train.get("warmup_steps", 0) if args.warmup_steps is None else args.warmup_steps
    if warmup >= steps:
        print(f"Error: the warm-up ({warmup} steps of L_mse + L_h) covers all {steps} steps, so "
              "the eight variants would train alike; give --warmup-steps below --steps",
              file=sys.stderr)
        return 1
    try:
        for name, terms in VARIANTS.items():
            # a bracketed list: bare commas are a sweep to DVC's (Hydra) override syntax
            run(["dvc", "exp", "run", "--queue", "-n", f"table1-{name}",
                 "-S", f"train.loss.terms=[{terms}]", *extra])
        if args.queue_only:
            return 0
        run(["dvc", "exp", "run", "--run-all", "--jobs", "1"])
        run(["dvc", "exp", "show", "--md", "--only-changed"])
    except subprocess.CalledProcessError as err:
        print(f"Error: `{' '.join(err.cmd)}` failed (exit {err.returncode}); see its output "
              "above, then `dvc queue status` / `dvc queue logs NAME`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
