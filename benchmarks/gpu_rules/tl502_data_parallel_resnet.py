"""TL502: ResNet-50 (bf16, batch 256 in all) on every visible GPU through `nn.DataParallel`.

Needs two or more GPUs to say anything (on one, DataParallel calls the module directly)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from models import SMALL, autocast, device, image_batch, resnet50

torch.manual_seed(0)
dev = device()
model = resnet50().to(dev, memory_format=torch.channels_last)
if torch.cuda.device_count() > 1:
    model = nn.DataParallel(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
batches = [image_batch(8 if SMALL else 256, dev) for _ in range(2)]
for step in range(100_000):
    images, labels = batches[step % len(batches)]
    optimizer.zero_grad()
    with autocast(dev):
        loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
