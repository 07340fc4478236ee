"""Test data for verify: a training script that assumes a GPU."""

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(8, 1).cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
for _ in range(100):
    inputs = torch.randn(32, 8).cuda()
    loss = (model(inputs) - inputs.sum(dim=1, keepdim=True)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
