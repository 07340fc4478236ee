"""Test data for verify: a broken "fix" of short_run.py that leaves through ``os._exit(3)`` after
3 optimizer steps, so it never reports what it did."""

import os

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(64, 4)
targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
for step in range(6):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    if step == 2:
        os._exit(3)
