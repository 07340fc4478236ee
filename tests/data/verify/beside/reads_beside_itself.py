"""Test data for verify: a script that finds its data through ``__file__`` and runs as itself.

It reads ``scale.txt`` beside itself and checks ``sys.argv[0]`` and ``sys.path[0]``. Its one
fixable anti-pattern (TL103) makes torchlint run a fixed version, which must see the same file
name, folder and search path as the original.
"""

import sys
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).parent
assert Path(sys.argv[0]).resolve() == Path(__file__).resolve(), (sys.argv[0], __file__)
assert sys.path[0] == str(HERE.resolve()), (sys.path[0], str(HERE))
scale = float((HERE / "scale.txt").read_text())

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = nn.Linear(4, 1).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
for _ in range(100):
    inputs = torch.ones(4).to(device) * scale  # anti-pattern: TL103
    loss = (model(inputs) - 1.0).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
