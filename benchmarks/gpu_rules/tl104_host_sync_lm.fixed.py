"""TL104 fixed by hand: the accuracy stays on the device; the host reads it every 100 steps."""

import torch
import torch.nn.functional as F
from models import autocast, device, gpt, token_batch

torch.manual_seed(0)
dev = device()
model = gpt().to(dev)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=dev.type == "cuda")
batches = [token_batch(8, dev, model) for _ in range(4)]

accuracy = []
for step in range(100_000):
    inputs, targets = batches[step % len(batches)]
    optimizer.zero_grad()
    with autocast(dev):
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    optimizer.step()
    correct = torch.mean((logits.argmax(-1) == targets).float())
    accuracy.append(correct.detach())
    if step % 100 == 99:
        print(f"step {step + 1}: accuracy {torch.stack(accuracy[-100:]).mean().item():.4f}")
