"""torch.distributed helpers that are no-ops in a single process.

Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK in the environment) ``init_from_env``
joins the process group: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank; 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes; 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on the rank that logs and writes checkpoints."""
    return get_rank() == 0


def init_from_env(device: str | torch.device) -> torch.device:
    """Join the process group if launched by torchrun and return this rank's device.

    CUDA devices become ``cuda:LOCAL_RANK``; without RANK/WORLD_SIZE nothing happens.
    """
    device = torch.device(device)
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1 or is_distributed():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return torch.device("cuda", local)
    dist.init_process_group("gloo")
    return device


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
