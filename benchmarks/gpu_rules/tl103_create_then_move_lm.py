"""TL103: a GPT-2-small LM whose forward builds its positions and causal mask on the host and
copies them to the GPU (`torch.arange(t).to(idx.device)`), on every step (bf16, batch 8x1024)."""

import torch
import torch.nn.functional as F
from models import GPT, autocast, device, token_batch


class MaskedGPT(GPT):
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        positions = torch.arange(t).to(idx.device)
        mask = torch.full((t, t), float("-inf")).to(idx.device).triu(1)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x, mask.to(x.dtype))
        return self.head(self.ln(x))


torch.manual_seed(0)
dev = device()
model = MaskedGPT().to(dev)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=dev.type == "cuda")
batches = [token_batch(8, dev, model) for _ in range(4)]
for step in range(100_000):
    inputs, targets = batches[step % len(batches)]
    optimizer.zero_grad()
    with autocast(dev):
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    optimizer.step()
