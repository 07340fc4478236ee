"""TL102: `torch.cuda.empty_cache()` after every step of ResNet-50 (bf16, batch 256, 224x224)."""

import torch
import torch.nn.functional as F
from models import SMALL, autocast, device, image_batch, resnet50

torch.manual_seed(0)
dev = device()
model = resnet50().to(dev, memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
batches = [image_batch(8 if SMALL else 256, dev) for _ in range(2)]
for step in range(100_000):
    images, labels = batches[step % len(batches)]
    optimizer.zero_grad()
    with autocast(dev):
        loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    torch.cuda.empty_cache()
