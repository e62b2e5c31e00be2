"""Queue and run the supplementary's Table 1 as DVC experiments: the four loss sets
L⁻ (mse), L† (+id), L‡ (+h), L⋆ (+adv), each with and without L_ic.

    python pipelines/table1.py                 # queue the eight, run them, print the table
    python pipelines/table1.py --steps 200     # a shorter schedule (a -S train.steps=200 on each)
    python pipelines/table1.py --queue-only    # just queue; run later with `dvc exp run --run-all`

Each experiment is `dvc exp run --queue -n table1-<name> -S "train.loss.terms=[<terms>]"`: DVC reruns
only train → evaluate → report (RaIN and the shards are shared), and `dvc exp show` is the
table. Nothing here trains or measures; it is the command block the README documents.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

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
    ap.add_argument("--queue-only", action="store_true", help="queue, do not run")
    args = ap.parse_args(argv)
    extra = ["-S", f"train.steps={args.steps}"] if args.steps else []
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
