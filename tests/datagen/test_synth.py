import hashlib
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from datagen.cli import main
from facecore.errors import UserInputError
from facecore.imageio import decode_png, write_image
from datagen.rain import Rain, RainConfig, save_checkpoint
from datagen.shards import ShardWriter, load_manifest, open_pairs, verify
from datagen.shards.reader import to_tensor
from datagen.sources.synthetic import SyntheticFaces
from datagen.synth import SynthConfig, Synthesizer, synth
from datagen.warp import downsample, warp_images

CFG = SynthConfig(relight="physical", shard_size=4, batch_size=3, seed=7,
                  source_options={"n_identities": 40})
COUNTS = {"train": 10, "test": 5}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    summary = synth(CFG, out, COUNTS, workers=0)
    assert summary.complete and summary.written == 5 and summary.per_split == COUNTS
    return out


def test_output_verifies_and_holds_what_the_schema_says(reference):
    assert verify(reference).ok
    assert (reference / "README.md").read_text().count("| train | 3 | 10 |") == 1
    samples = list(open_pairs(reference, "train", split_by_worker=False))
    assert [s["key"] for s in samples] == [f"train/{i:09d}" for i in range(10)]
    for s in samples:
        meta = s["json"]
        assert meta["identity"] != meta["guide_identity"]
        assert s["nilr"].shape == (3, 16, 16) and s["uihr"].shape == (3, 128, 128)
        assert len(meta["landmarks_uihr"]) == 68 and len(meta["landmarks_nilr"]) == 68
        # physical relighting changes the light, not the face: same background corner
        assert torch.equal(s["nihr"][:, :4, :4], s["uihr"][:, :4, :4])
        assert not torch.equal(s["nihr"], s["uihr"])
        # every sampled light parameter of the physical render is recorded
        light = meta["light"]
        assert light["kind"] in ("point", "key-fill") and light["lighting"] == "non-uniform"
        assert {"azimuth_deg", "elevation_deg", "intensity", "tint", "direction"} \
            <= set(light["lights"][0])


def test_nilr_is_replayable_from_nihr_and_the_recorded_affine(reference):
    s = next(iter(open_pairs(reference, "test", split_by_worker=False)))
    matrix = torch.tensor([s["json"]["affine"]], dtype=torch.float32)
    warped = warp_images(s["nihr"][None], matrix)
    nilr = downsample(warped, 16).mul(255).round()
    assert torch.equal(nilr[0], s["nilr"].mul(255).round())
    # the warped landmarks land where the matrix sends the UI-HR landmarks (in 16-px coords)
    lm = np.array(s["json"]["landmarks_uihr"])
    a = np.array(s["json"]["affine"])
    expected = ((lm @ a[:, :2].T + a[:, 2]) + 0.5) / 8 - 0.5
    np.testing.assert_allclose(np.array(s["json"]["landmarks_nilr"]), expected, atol=1e-3)


def test_splits_are_identity_disjoint(reference):
    ids = {split: {s["json"]["identity"] for s in open_pairs(reference, split,
                                                              split_by_worker=False)}
           for split in ("train", "test")}
    assert ids["train"] and ids["test"] and not ids["train"] & ids["test"]


def test_same_bytes_with_two_workers(reference, tmp_path):
    """Same process, same config: the bytes do not depend on the number of worker processes
    (workers only load and encode; the device half runs in the main process on config.threads)."""
    synth(CFG, tmp_path, COUNTS, workers=2)
    assert _digests(tmp_path) == _digests(reference)


def test_a_split_without_two_identities_is_refused_before_any_output(tmp_path):
    cfg = SynthConfig(relight="physical", shard_size=4, batch_size=2,
                      source_options={"n_identities": 3})
    with pytest.raises(UserInputError, match="split 'val' has [01] identities"):
        synth(cfg, tmp_path / "out", {"val": 2})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_image_found_by_a_worker_stops_the_run(tmp_path, workers):
    # faces are loaded in worker processes: a corrupt file must still end the run with the
    # same one-line UserInputError naming it, and no shard of that batch recorded
    faces = SyntheticFaces(size=32, n_identities=8).render(np.arange(8), np.zeros(8, np.int64),
                                                           lighting="uniform").images
    for i, img in enumerate(faces):
        write_image(tmp_path / "faces" / f"p{i}" / "a.png", img)
    (tmp_path / "faces" / "p6" / "a.png").write_bytes(b"not a png")  # drawn in batch 0
    rain = save_checkpoint(tmp_path / "rain.pt", Rain(RainConfig(width=0.0625, latent_dim=8,
                                                                 mlp_dim=16, image_size=32), vgg_weights="random"))
    cfg = SynthConfig(source="folder", source_options={"root": str(tmp_path / "faces")},
                      relight="rain", rain_checkpoint=str(rain), shard_size=8, batch_size=8,
                      split_fractions=(1.0, 0.0, 0.0))
    with pytest.raises(UserInputError, match="p6/a.png: not a readable image"):
        synth(cfg, tmp_path / "out", {"train": 8}, workers=workers)
    assert not list((tmp_path / "out").glob("*.tar"))
    assert not load_manifest(tmp_path / "out").shards


def test_guide_gallery_draws_guides_from_k_faces_with_the_same_bytes_for_any_workers(tmp_path):
    """Same process, same config (with a guide gallery): guides come from K faces, and the
    bytes are the same for 0 and 2 workers."""
    cfg = SynthConfig(relight="physical", shard_size=4, batch_size=3, seed=7, guides="gallery",
                      guide_gallery=3, source_options={"n_identities": 40})
    a = synth(cfg, tmp_path / "a", COUNTS, workers=0)
    synth(cfg, tmp_path / "b", COUNTS, workers=2)
    assert a.complete and _digests(tmp_path / "a") == _digests(tmp_path / "b")
    samples = list(open_pairs(tmp_path / "a", "train", split_by_worker=False))
    guides = {s["json"]["guide_identity"] for s in samples}
    assert 2 <= len(guides) <= 3
    assert all(s["json"]["guide_identity"] != s["json"]["identity"] for s in samples)
    # the same guide identity is the same picture wherever it appears
    by_identity: dict[str, torch.Tensor] = {}
    for s in samples:
        first = by_identity.setdefault(s["json"]["guide_identity"], s["guide"])
        assert torch.equal(first, s["guide"])
    # the gallery is part of the config: its shards do not mix with those made without one
    assert cfg == SynthConfig(**{**CFG.__dict__, "guides": "gallery", "guide_gallery": 3})
    with pytest.raises(UserInputError, match="differs in guide_gallery, guides"):
        synth(CFG, tmp_path / "a", COUNTS)
    with pytest.raises(UserInputError, match="guide_gallery must be 0"):
        SynthConfig(relight="physical", guide_gallery=1)
    with pytest.raises(UserInputError, match="goes with guides 'gallery'"):
        SynthConfig(relight="physical", guide_gallery=3)


def test_same_bytes_with_two_ranks(reference, tmp_path):
    """Same machine and config: two ranks writing their shards k ≡ r (mod 2) give the
    single-process bytes, manifest included."""
    first = synth(CFG, tmp_path, COUNTS, rank=1, world_size=2)
    assert not first.complete and (tmp_path / "manifest.d").is_dir()
    assert not (tmp_path / "README.md").exists()
    second = synth(CFG, tmp_path, COUNTS, rank=0, world_size=2)
    assert second.complete and not (tmp_path / "manifest.d").exists()
    assert _digests(tmp_path) == _digests(reference)


def test_sigkill_then_resume_gives_the_same_bytes(reference, tmp_path):
    """Same machine and config, the run killed in a subprocess and resumed here: identical
    bytes to an unbroken run (the child inherits this process's environment and the model
    runs on config.threads in both)."""
    script = f"""
import os, signal
from datagen.synth import SynthConfig, synth
cfg = SynthConfig(relight="physical", shard_size=4, batch_size=3, seed=7,
                  source_options={{"n_identities": 40}})
def die(samples, shards):
    os.kill(os.getpid(), signal.SIGKILL)  # after the first shard is recorded
synth(cfg, {str(tmp_path)!r}, {COUNTS!r}, on_progress=die)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert len(load_manifest(tmp_path).shards) == 1 and not verify(tmp_path).problems.get(
        "train-000000.tar")
    resumed = synth(CFG, tmp_path, COUNTS)
    assert resumed.skipped == 1 and resumed.written == 4 and resumed.complete
    assert _digests(tmp_path) == _digests(reference)


def test_synth_writes_every_shard_through_the_shard_writer(reference, tmp_path, monkeypatch):
    """The engine has no writer of its own: each shard it makes is one
    ShardWriter.write_fragments (of the tar pieces its workers encoded), whose records are
    the manifest's."""
    calls = []
    real = ShardWriter.write_fragments

    def spy(self, job, fragments):
        calls.append(real(self, job, fragments))
        return calls[-1]

    monkeypatch.setattr(ShardWriter, "write_fragments", spy)
    synth(CFG, tmp_path, COUNTS, workers=2)
    assert {r.name: r for r in calls} == load_manifest(tmp_path).shards
    assert len(calls) == 5 and _digests(tmp_path) == _digests(reference)


def test_a_run_killed_while_renaming_a_shard_resumes_to_the_same_bytes(reference, tmp_path):
    """Same machine and config: killed inside the writer after the second shard's temp file
    is written but before its rename, the run leaves one recorded shard and a temp file
    (which verify names); re-running redoes the second shard and gives the reference bytes."""
    script = f"""
import os, signal
import datagen.shards.tarwrite as tw
from datagen.synth import SynthConfig, synth
def replace(src, dst):
    if str(dst).endswith("train-000001.tar"):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
real, tw.os.replace = tw.os.replace, replace
cfg = SynthConfig(relight="physical", shard_size=4, batch_size=3, seed=7,
                  source_options={{"n_identities": 40}})
synth(cfg, {str(tmp_path)!r}, {COUNTS!r}, workers=0)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert set(load_manifest(tmp_path).shards) == {"train-000000.tar"}
    assert not (tmp_path / "train-000001.tar").exists()
    assert "leftover temporary file" in " ".join(verify(tmp_path).problems.values())
    resumed = synth(CFG, tmp_path, COUNTS)
    assert resumed.skipped == 1 and resumed.written == 4 and resumed.complete
    finished = {n: d for n, d in _digests(tmp_path).items() if not n.startswith(".")}
    assert finished == _digests(reference)


def test_only_regenerates_the_stored_sample(reference):
    """Same process and config: regenerating one sample alone (its full batch) gives the
    stored members byte for byte."""
    syn = Synthesizer(CFG)
    for index in (0, 5, 9):
        again = dict(syn.sample("train", index).members())
        shard = reference / f"train-{index // 4:06d}.tar"
        with tarfile.open(shard) as tar:
            stored = {m.name: tar.extractfile(m).read() for m in tar.getmembers()
                      if m.name.startswith(f"train/{index:09d}.")}
        assert again == stored


def test_cli_runs_resumes_and_regenerates(tmp_path):
    """Same process and config through the CLI: a re-run skips finished shards and --only
    reports the regenerated sample identical."""
    runner = CliRunner()
    args = ["synth", "--n", "6", "--out", str(tmp_path), "--relight", "physical",
            "--shard-size", "4", "--batch-size", "2", "--split", "train", "--workers", "0"]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "not a multiple" not in res.output  # shards of 4 in batches of 2
    assert verify(tmp_path).ok and load_manifest(tmp_path).split_counts() == {"train": 6}
    res = runner.invoke(main, args)
    assert res.exit_code == 0 and "│ 0              │ 2" in res.output  # nothing new, 2 skipped
    res = runner.invoke(main, args + ["--only", "5"])
    assert res.exit_code == 0 and "train/000000005: identical" in res.output
    # --split-fractions decides which identities a split draws from (and is part of the config)
    other = tmp_path / "fractions"
    res = runner.invoke(main, ["synth", "--n", "6", "--out", str(other), "--relight", "physical",
                               "--batch-size", "3", "--split", "all", "--workers", "0",
                               "--split-fractions", "0.5", "0", "0.5"])
    assert res.exit_code == 0, res.output
    assert "shard size 1024 is not a multiple of batch size 3" in res.output  # 1 discarded
    assert load_manifest(other).split_counts() == {"train": 3, "test": 3}


@pytest.mark.parametrize("extra, message", [
    (["--source", "nope", "--relight", "physical"], "unknown source 'nope'"),
    (["--rain", "missing.pt"], "RaIN checkpoint not found; make one with `datagen train-rain"),
    (["--relight", "physical", "--n", "0"], "--n must be ≥ 1"),
    (["--relight", "physical", "--split-fractions", "0.8", "0.1", "0.2"],
     "split fractions must be non-negative and sum to 1"),
])
def test_bad_input_one_line_and_no_output(tmp_path, extra, message):
    out = tmp_path / "out"
    args = ["synth", "--n", "4", "--out", str(out)]
    res = CliRunner().invoke(main, args + extra)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output
    assert not (out / "manifest.json").exists()


def test_unwritable_or_foreign_output_is_refused(tmp_path, reference):
    """A directory of another config is refused and left byte-identical."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(main, ["synth", "--n", "4", "--relight", "physical",
                                    "--out", str(blocker / "sub")])
    assert res.exit_code == 1 and "cannot write there" in res.output
    before = _digests(reference)
    res = CliRunner().invoke(main, ["synth", "--n", "4", "--relight", "physical", "--seed", "8",
                                    "--shard-size", "4", "--batch-size", "3",
                                    "--out", str(reference)])
    assert res.exit_code == 1 and "different config (differs in seed" in res.output
    assert _digests(reference) == before


def test_rain_relighting_path(tmp_path):
    """Same machine and torch version, same config (so the same ``threads``): the bytes are
    identical whatever the worker count and whatever thread count the process itself was
    set to, because the model always runs on ``config.threads``. A resume with another
    ``threads`` is refused (CPU kernels may round differently per thread count)."""
    model = Rain(RainConfig(width=0.0625, latent_dim=8, mlp_dim=16, image_size=32), vgg_weights="random")
    with torch.no_grad():  # a non-identity shading so relit faces differ from the content
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    ckpt = save_checkpoint(tmp_path / "rain.pt", model)
    cfg = SynthConfig(relight="rain", rain_checkpoint=str(ckpt), shard_size=4, batch_size=4,
                      source_options={"n_identities": 40})
    a = synth(cfg, tmp_path / "a", {"train": 4})
    b = synth(cfg, tmp_path / "b", {"train": 4}, workers=1)
    assert a.complete and _digests(tmp_path / "a") == _digests(tmp_path / "b")
    threads = torch.get_num_threads()
    try:  # the process on 1 thread and on 3: the model still runs on cfg.threads (1)
        for n in (1, 3):
            torch.set_num_threads(n)
            synth(cfg, tmp_path / f"c{n}", {"train": 4}, workers=1)
            assert torch.get_num_threads() == n  # restored after each batch
            assert _digests(tmp_path / f"c{n}") == _digests(tmp_path / "a")
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(UserInputError, match="differs in threads"):
        synth(replace(cfg, threads=2), tmp_path / "a", {"train": 4})
    manifest = load_manifest(tmp_path / "a")
    assert manifest.header["models"]["rain_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert manifest.header["runtime"]["torch"] == torch.__version__
    assert manifest.header["runtime"]["device"]
    s = next(iter(open_pairs(tmp_path / "a", "train", split_by_worker=False)))
    assert not torch.equal(s["nihr"], s["uihr"])
    seeds = [json.loads(json.dumps(x["json"]))["style_seed"]
             for x in open_pairs(tmp_path / "a", "train", split_by_worker=False)]
    assert len(set(seeds)) == 4


def test_a_resume_on_another_runtime_is_refused(tmp_path):
    """The bytes depend on the torch version and the device, so a directory begun on one is
    not finished on another: the manifest's ``runtime`` must match."""
    synth(CFG, tmp_path, {"train": 4})
    path = tmp_path / "manifest.json"
    doc = json.loads(path.read_text())
    doc["header"]["runtime"]["device"] = "Some Other CPU"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserInputError, match="on 'Some Other CPU'; this is torch"):
        synth(CFG, tmp_path, {"train": 8})


def test_real_relighting_from_a_labelled_folder(tmp_path):
    faces = SyntheticFaces(size=64, n_identities=12)
    rows = ["file,identity,illumination"]
    for ident in range(12):
        for light, variant in (("uniform", 0), ("non-uniform", 1)):
            out = faces.render(np.array([ident]), np.array([0]), lighting=light,
                               light_seeds=np.array([variant]))
            name = f"p{ident}/{light}.png"
            write_image(tmp_path / "faces" / name, out.images[0])
            rows.append(f"{name},person{ident},{light}")
    (tmp_path / "faces" / "labels.csv").write_text("\n".join(rows) + "\n")
    cfg = SynthConfig(source="folder", source_options={"root": str(tmp_path / "faces")},
                      relight="real", shard_size=4, batch_size=2,
                      split_fractions=(0.5, 0.0, 0.5))
    summary = synth(cfg, tmp_path / "out", {"train": 4})
    assert summary.complete
    for s in open_pairs(tmp_path / "out", "train", split_by_worker=False):
        ident = s["json"]["identity"]
        uniform = decode_png((tmp_path / "faces" / ident.replace("person", "p") /
                              "uniform.png").read_bytes())
        import cv2
        expected = cv2.resize(uniform, (128, 128), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal((s["uihr"].permute(1, 2, 0) * 255).round().numpy(),
                                      expected)
        assert s["json"]["landmarks_uihr"] is None  # a folder without landmarks.csv


def test_params_section_with_flag_overrides_and_unknown_keys(tmp_path):
    """`datagen synth --params FILE` reads the `synth:` section shaped like SynthRun; a flag
    overrides one field; an unknown key is one `Error:` line naming it."""
    params = tmp_path / "params.yaml"
    params.write_text("synth:\n  n: 3\n  workers: 0\n  split: train\n  config:\n"
                      "    relight: physical\n    shard_size: 4\n    batch_size: 2\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["synth", "--params", str(params), "--n", "2",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = load_manifest(out)
    assert manifest.split_counts() == {"train": 2}
    params.write_text("synth:\n  n: 3\n  config:\n    relight: physical\n    shard_sise: 4\n")
    res = CliRunner().invoke(main, ["synth", "--params", str(params), "--out", str(tmp_path / "x")])
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert res.exit_code == 1 and len(errors) == 1 and "synth.config" in errors[0]
    assert "shard_sise" in errors[0]
