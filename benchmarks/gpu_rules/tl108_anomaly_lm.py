"""TL108: anomaly detection left on in a GPT-2-small LM's training (bf16, batch 8x1024)."""

import torch
import torch.nn.functional as F
from models import autocast, device, gpt, token_batch

torch.manual_seed(0)
dev = device()
model = gpt().to(dev)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=dev.type == "cuda")
batches = [token_batch(8, dev, model) for _ in range(4)]

torch.autograd.set_detect_anomaly(True)
for step in range(100_000):
    inputs, targets = batches[step % len(batches)]
    optimizer.zero_grad()
    with autocast(dev):
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    optimizer.step()
