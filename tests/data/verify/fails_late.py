"""Test data for verify: a script that crashes after 5 optimizer steps.

It never clears its gradients (TL001, whose unsafe fix inserts a line), so the line that crashes is
one line further down in the fixed version: tracebacks must show the lines of the code that ran.
"""

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
inputs = torch.randn(64, 4)
for step in range(100):
    loss = (model(inputs) - 1.0).pow(2).mean()
    loss.backward()
    optimizer.step()
    if step == 4:
        raise RuntimeError("the data ran out")
