"""Test data for verify: a script that reads ``scale.txt`` from, and saves checkpoints into, its
working directory, as ``cd beside && python reads_cwd.py`` would. Its one fixable anti-pattern
(TL103) gives verify a fixed version to run.
"""

import torch
import torch.nn as nn

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
scale = float(open("scale.txt").read())
model = nn.Linear(4, 1).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(100):
    inputs = torch.ones(4).to(device) * scale  # anti-pattern: TL103
    loss = (model(inputs) - 1.0).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 5 == 4:
        torch.save(model.state_dict(), "checkpoint.pt")
