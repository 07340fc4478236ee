"""Test data for verify: a script that is killed by SIGKILL after 3 optimizer steps (as the
kernel's OOM killer kills a process), so it never reports what it did."""

import os
import signal

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(64, 4)
for step in range(100):
    optimizer.zero_grad()
    loss = (model(inputs) - 1.0).pow(2).mean()
    loss.backward()
    optimizer.step()
    if step == 2:
        os.kill(os.getpid(), signal.SIGKILL)
