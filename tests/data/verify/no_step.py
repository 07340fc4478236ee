"""Test data for verify: hand-written SGD, so no torch.optim optimizer ever steps."""

import torch

torch.manual_seed(0)
weights = torch.zeros(8, requires_grad=True)
target = torch.randn(8)
for _ in range(50):
    loss = ((weights - target) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        weights -= 0.1 * weights.grad
        weights.grad = None
print(f"final loss {float(loss):.4f}")
