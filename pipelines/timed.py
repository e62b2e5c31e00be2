"""Run one DVC stage's command and record its wall time (for the report's time-per-stage table).

    python pipelines/timed.py metrics/time/synth.json -- datagen synth ...

Several commands may be chained with a literal ``&&`` argument; they run in order and the
first failure stops the stage with its exit code. Nothing here is stage logic: the
commands are the project's CLIs.
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
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: timed.py OUT.json -- COMMAND [ARGS...] [&& COMMAND ...]")
    out, words = Path(argv[0]), argv[2:]
    commands, current = [], []
    for word in words:
        if word == "&&":
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    start = time.perf_counter()
    for cmd in commands:
        code = subprocess.call(cmd)
        if code:
            return code
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds": round(time.perf_counter() - start, 1),
                               "cpus": os.cpu_count(), "machine": platform.machine()},
                              indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
