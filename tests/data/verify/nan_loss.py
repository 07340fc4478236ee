"""Test data for verify: a script whose loss is NaN from the first step (its targets are missing
values), with nothing for torchlint to fix: it does not train."""

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(64, 4)
targets = torch.full((64, 1), float("nan"))
for _ in range(100):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
