"""Run one command of a DVC stage and record its wall time (for the report's time-per-stage table).

    python pipelines/timed.py metrics/time/synth.json -- datagen synth ...
    python pipelines/timed.py --add metrics/time/synth.json -- datagen verify data/shards

A stage lists its commands in DVC's list-form ``cmd``, each wrapped here: the first one
writes OUT.json, each later one with ``--add`` adds its time to it, so ``seconds`` is the
stage's total and ``commands`` the time of each (``"2 datagen eval-rain": 3.1``). A failing command's exit code is passed
on (DVC stops the stage). Nothing here is stage logic: the commands are the project's CLIs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    add = bool(argv) and argv[0] == "--add"
    argv = argv[1:] if add else argv
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: timed.py [--add] OUT.json -- COMMAND [ARGS...]")
    out, command = Path(argv[0]), argv[2:]
    start = time.perf_counter()
    code = subprocess.call(command)
    if code:
        return code
    seconds = round(time.perf_counter() - start, 1)
    record: dict = {"seconds": 0.0, "commands": {}}
    if add:
        if not out.is_file():
            sys.exit(f"timed.py --add: {out} does not exist; the stage's first command makes it")
        record = json.loads(out.read_text())
    record.update(seconds=round(record["seconds"] + seconds, 1), cpus=os.cpu_count(),
                  machine=platform.machine())
    commands = record["commands"]  # "1 datagen train-rain": seconds, in order
    commands[f"{len(commands) + 1} {' '.join(command[:2])}"] = seconds
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
