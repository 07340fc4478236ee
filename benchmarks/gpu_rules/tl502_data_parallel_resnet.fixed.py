"""TL502 fixed by hand: DistributedDataParallel, one process per visible GPU, the same global batch
(256) split between them.

Run as a plain script (`python tl502_data_parallel_resnet.fixed.py`, which is how `torchlint
verify` runs it): this process is rank 0 and starts ranks 1..N-1 itself (spawned processes), so
the optimizer steps verify counts are rank 0's, one per global batch. Under `torchrun` each
process is one rank of those torchrun started.
"""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from models import SMALL, autocast, image_batch, resnet50
from torch.nn.parallel import DistributedDataParallel as DDP


def train(rank: int, world: int) -> None:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    dev = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    torch.manual_seed(0)
    model = resnet50().to(dev, memory_format=torch.channels_last)
    model = DDP(model, device_ids=[rank] if cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    per_rank = (8 if SMALL else 256) // world
    batches = [image_batch(per_rank, dev) for _ in range(2)]
    for step in range(100_000):
        images, labels = batches[step % len(batches)]
        optimizer.zero_grad()
        with autocast(dev):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    if "RANK" in os.environ:  # started by torchrun
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    else:
        with socket.socket() as probe:  # a free port: runs one after the other must not collide
            probe.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(probe.getsockname()[1])
        world = max(1, torch.cuda.device_count())
        others = [
            mp.get_context("spawn").Process(target=train, args=(rank, world), daemon=True)
            for rank in range(1, world)
        ]
        for process in others:
            process.start()
        train(0, world)
