"""Test data for verify: a hand-made "fixed" version of ../beside/spawns_worker.py.

It lives in another folder, without a scale.txt: it trains only when it runs under the original's
name, as verify runs a fixed version, in the spawned worker too. Its worker function differs from
the original's (inputs 1.5 times larger), so the trajectories differ only when the worker runs
this file's code.
"""

import multiprocessing
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCALE = float((HERE / "scale.txt").read_text())  # at import: the spawned worker reads it too


def scaled(value):
    return 1.5 * value * SCALE


def main():
    import torch
    import torch.nn as nn

    assert Path(sys.argv[0]).resolve() == Path(__file__).resolve(), (sys.argv[0], __file__)
    assert sys.path[0] == str(HERE.resolve()), (sys.path[0], str(HERE))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        factors = pool.map(scaled, [1.0, 2.0, 3.0, 4.0])
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    weights = torch.tensor(factors, device=device)
    model = nn.Linear(4, 1).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(100):
        inputs = torch.ones(4, device=device) * weights
        loss = (model(inputs) - 1.0).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
