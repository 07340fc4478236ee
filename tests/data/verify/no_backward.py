"""Test data for verify: an evaluation script; it never calls backward()."""

import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)).eval()
correct = 0
with torch.no_grad():
    for _ in range(10):
        inputs = torch.randn(32, 8)
        correct += int((model(inputs).argmax(1) == 0).sum())
print(f"predicted class 0 for {correct} of 320 inputs")
