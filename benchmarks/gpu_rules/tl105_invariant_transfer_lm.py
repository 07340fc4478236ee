"""TL105: token-frequency loss weights (a host tensor over the 50257-token vocabulary) moved to
the GPU on every step of a GPT-2-small LM."""

import torch
import torch.nn.functional as F
from models import autocast, device, gpt, token_batch

torch.manual_seed(0)
dev = device()
model = gpt().to(dev)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=dev.type == "cuda")
batches = [token_batch(8, dev, model) for _ in range(4)]

vocab = model.tok.num_embeddings
class_weights = 1.0 / torch.linspace(1.0, 2.0, vocab)  # host memory, as read from a counts file
for step in range(100_000):
    inputs, targets = batches[step % len(batches)]
    optimizer.zero_grad()
    weights = class_weights.to(dev)
    with autocast(dev):
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), weight=weights)
    loss.backward()
    optimizer.step()
