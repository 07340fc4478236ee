import torch
import torch as th
from torch import load

model = torch.nn.Linear(4, 2)
model.load_state_dict(torch.load("model.pt"))  # expect: EX001
state = th.load("model.pt", weights_only=True)  # expect: EX001
optimizer_state = load(  # expect: EX001
    "optimizer.pt",
    weights_only=True,
)

# Already says where the tensors go.
on_cpu = torch.load("model.pt", map_location="cpu")
positional = torch.load("model.pt", "cpu")
forwarded = torch.load("model.pt", **load_options)
# Another loader: not in the plug-in's table.
scripted = torch.jit.load("model.ts")
