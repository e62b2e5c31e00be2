"""The whole DVC pipeline from a fresh copy of the repository, at smoke size (presets/smoke.yaml).

Checks what a user meets first: `dvc repro` runs every stage offline with no manual step,
a second `dvc repro` does nothing, and changing one synth parameter reruns synth and what
depends on it (train, evaluate, report) but not RaIN.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([a-z_]+)'", output)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    if shutil.which("git") is None:
        pytest.skip("git not available")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    repo = tmp_path_factory.mktemp("clone")
    for name in tracked.stdout.splitlines():
        src = ROOT / name
        if src.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    # outputs of an earlier run in the checkout are not part of a fresh clone
    for generated in ("dvc.lock", "metrics", "reports", "runs/cpgan/plots"):
        path = repo / generated
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    shutil.copy2(repo / "presets" / "smoke.yaml", repo / "params.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@localhost",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@localhost"}
    _run(["git", "init", "-q"], repo, env)
    for key, value in (("user.name", "ci"), ("user.email", "ci@localhost")):  # dvc exp commits
        _run(["git", "config", key, value], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "fresh"], repo, env)
    return repo, env


def test_dvc_repro_from_a_fresh_clone(fresh_clone):
    repo, env = fresh_clone
    dvc = [sys.executable, "-m", "dvc"]
    first = _run(dvc + ["repro"], repo, env)
    assert _ran(first) == ["rain_pretrain", "rain_finetune", "synth", "shard_lighting", "train",
                           "evaluate", "report"]
    test_metrics = json.loads((repo / "metrics" / "eval_test.json").read_text())
    assert test_metrics["cpgan"]["psnr"] > 0 and test_metrics["bicubic"]["psnr"] > 0
    report = (repo / "reports" / "index.md").read_text()
    assert "Time per stage" in report and "eval_grid.png" in report
    assert "train shards" in report  # the shards' own light, held against the reference
    for image in ("rain_stylize.png", "rain_lighting.png", "synth_preview.png",
                  "shard_lighting.png", "eval_grid.png"):
        assert (repo / "reports" / image).stat().st_size > 1000
    # a default run uses the real networks and never records a random init anywhere
    for record in sorted((repo / "metrics").rglob("*.json")):
        assert "random" not in record.read_text().lower(), record
    rain_vgg = json.loads((repo / "metrics" / "rain.json").read_text())["perceptual_weights"]
    assert rain_vgg["name"] == "vgg19-imagenet-keras-notop-q8" and len(rain_vgg["sha256"]) == 64
    assert set(test_metrics["weights"]) == {"vgg19", "identity"}
    manifest = json.loads((repo / "data" / "shards" / "manifest.json").read_text())
    assert manifest["header"]["models"]["perceptual"]["sha256"] == rain_vgg["sha256"]

    assert _ran(_run(dvc + ["repro"], repo, env)) == []

    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("max_rotation: 10.0", "max_rotation: 12.0"))
    assert _ran(_run(dvc + ["repro"], repo, env)) == ["synth", "shard_lighting", "train",
                                                      "evaluate", "report"]

    shown = _run(dvc + ["metrics", "show", "--json"], repo, env)
    assert "eval_test.json" in shown and "synth.json" in shown

    # an edit to a helper of the core package every stage's CLI imports (the shard reader's
    # PNG decode) marks exactly the stages that run project code: not the report, which
    # only reads metrics
    helper = repo / "facecore" / "imageio.py"
    original = helper.read_text()
    helper.write_text(original + "\n# edited\n")
    status = json.loads(_run(dvc + ["status", "--json"], repo, env).splitlines()[-1])
    changed = sorted(stage for stage, entries in status.items()
                     if any("facecore" in e.get("changed deps", {}) for e in entries
                            if isinstance(e, dict)))
    assert changed == ["evaluate", "rain_finetune", "rain_pretrain", "shard_lighting", "synth",
                       "train"], status
    helper.write_text(original)
    assert json.loads(_run(dvc + ["status", "--json"], repo, env).splitlines()[-1]) == {}


def test_table1_experiments_queue_and_run(fresh_clone):
    """pipelines/table1.py queues the eight loss variants as DVC experiments; one of them,
    run, reruns only train → evaluate → report and shows up in `dvc exp show`."""
    repo, env = fresh_clone
    dvc = [sys.executable, "-m", "dvc"]
    _run(dvc + ["repro"], repo, env)  # a no-op after the test above; the full run if alone
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "repro", "--allow-empty"], repo, env)
    _run([sys.executable, "pipelines/table1.py", "--queue-only", "--steps", "2"], repo, env)
    status = _run(dvc + ["queue", "status"], repo, env)
    assert status.count("Queued") == 8 and "table1-Lstar-ic" in status
    _run(dvc + ["queue", "remove", "--all"], repo, env)

    ran = _run(dvc + ["exp", "run", "-n", "table1-check", "-S", "train.loss.terms=[mse,ic]",
                      "-S", "train.loss.weights.ic=1", "-S", "train.steps=2"], repo, env)
    assert _ran(ran) == ["train", "evaluate", "report"]
    # the experiment's metrics are in its commit (metrics/ is git-tracked), so exp show has them
    shown = json.loads(subprocess.run(dvc + ["exp", "show", "--json"], cwd=repo, env=env,
                                      capture_output=True, text=True, check=True).stdout)
    found = _experiment(shown, "table1-check")
    assert found is not None, "table1-check missing from dvc exp show"
    assert found["metrics"]["metrics/eval_test.json"]["data"]["cpgan"]["psnr"] > 0
    loss = found["params"]["params.yaml"]["data"]["train"]["loss"]
    assert loss["terms"] == ["mse", "ic"] and loss["weights"]["ic"] == 1
    ckpt = torch.load(repo / "runs" / "cpgan" / "last.pt", weights_only=True)  # the exp's run
    assert ckpt["loss_config"]["terms"] == ["mse", "ic"]
    assert ckpt["loss_config"]["weights"]["ic"] == 1.0


def _experiment(node, name: str):
    """The ``data`` of experiment ``name`` anywhere in `dvc exp show --json` output."""
    if isinstance(node, dict):
        if node.get("name") == name and isinstance(node.get("data"), dict):
            return node["data"]
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _experiment(child, name)
            if found is not None:
                return found
    return None
