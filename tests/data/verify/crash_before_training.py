"""Test data for verify: a script that crashes before training (its data file is missing)."""

import torch
import torch.nn as nn

model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
rows = open("data/does-not-exist.csv").read().splitlines()
for row in rows:
    optimizer.zero_grad()
    loss = model(torch.tensor([float(v) for v in row.split(",")])).pow(2).sum()
    loss.backward()
    optimizer.step()
