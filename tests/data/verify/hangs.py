"""Test data for verify: a script that waits forever before training (for a file that never comes)."""

import os
import time

import torch

while not os.path.exists("ready.flag"):
    time.sleep(0.05)
torch.ones(1).requires_grad_().sum().backward()
