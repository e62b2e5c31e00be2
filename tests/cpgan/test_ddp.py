"""DDP, world size 2 (gloo, CPU): both ranks train in lock-step and end with the same weights."""

import os
import socket

import torch
import torch.multiprocessing as mp

from cpgan.checkpoint import read_checkpoint
from cpgan.config import ModelConfig
from cpgan.losses import LossConfig
from cpgan.train import build_models
from cpgan.train_config import TrainConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from cpgan import distributed
    from cpgan.train import train

    config = TrainConfig(model=ModelConfig.preset("tiny"), loss=LossConfig(perceptual_width=0.125, vgg_weights="random", identity_net="random"),
                         batch_size=2, steps=3, epoch_samples=8, checkpoint_every=3, log_every=1,
                         shuffle_buffer=4)
    try:
        result = train(config, data, out, show_progress=False)
        assert distributed.get_world_size() == world and distributed.get_rank() == rank
        torch.save({"generator": result.generator.state_dict(),
                    "discriminator": result.discriminator.state_dict(), "step": result.step},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        distributed.cleanup()


def test_two_ranks_train_and_end_with_identical_weights(tiny_shards, tmp_path):
    """Two gloo ranks on this machine (same environment): DDP keeps their weights
    exactly equal, and they moved from the start."""
    out = tmp_path / "run"
    out.mkdir()
    # fork: pytest imports this file by path (importlib mode), so spawned children could not.
    mp.start_processes(_worker, args=(2, _free_port(), str(tiny_shards), str(out)), nprocs=2,
                       join=True, start_method="fork")
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["step"] == ranks[1]["step"] == 3
    for net in ("generator", "discriminator"):
        for key, value in ranks[0][net].items():
            assert torch.equal(value, ranks[1][net][key]), f"{net}.{key}"
    ckpt = read_checkpoint(out / "last.pt")  # written by rank 0 only
    assert ckpt["step"] == 3
    start = build_models(TrainConfig(model=ModelConfig.preset("tiny")))[0].state_dict()
    assert any(not torch.equal(start[k], v) for k, v in ranks[0]["generator"].items())
    for key, value in ckpt["generator"].items():
        assert torch.equal(value, ranks[0]["generator"][key])
