"""Several processes (accelerate launch / torchrun): who am I, wait for the others, share results.

One process (the default) needs none of this: every function degrades to the obvious single-process answer.
Under a launcher each process trains a full copy of the model (data parallel, the Trainer's DDP), queries and
evaluates its own share of the prompts, and only the main process writes files.
"""
import os

import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the process group the launcher set up (NCCL on GPUs, gloo on CPU); nothing for one process."""
    if world_size() > 1 and not torch.distributed.is_initialized():
        from accelerate import PartialState

        PartialState()  # initialises torch.distributed with the launcher's environment


def barrier() -> None:
    if world_size() > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()


def device() -> torch.device:
    """This process's device: its own GPU (LOCAL_RANK) if there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def gather(items: list) -> list:
    """Every process's `items`, concatenated in rank order, on every process."""
    if world_size() == 1 or not torch.distributed.is_initialized():
        return list(items)
    gathered = [None] * world_size()
    torch.distributed.all_gather_object(gathered, list(items))
    return [item for part in gathered for item in part]
