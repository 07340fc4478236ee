"""Models of realistic size for the rule benchmarks, written out (no torchvision needed).

``resnet50()``: the ResNet-50 layout (bottleneck blocks 3-4-6-3, 25.6 M parameters at 1000
classes), convolutions without bias before their batch normalisation. ``gpt()``: a GPT-2-small
layout (12 layers, width 768, 12 heads, 124 M parameters with a 50257-token vocabulary).
``SIZE`` = "small" (the environment variable GPU_RULES_SIZE) shrinks both, for a CPU smoke test.
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

SMALL = os.environ.get("GPU_RULES_SIZE") == "small"


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(dev: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (how such models are trained); a no-op context on the CPU."""
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


def resnet50(classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = 64
    blocks = (1, 1, 1, 1) if SMALL else (3, 4, 6, 3)
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for index in range(count):
            stride = 2 if index == 0 and stage > 0 else 1
            layers.append(Bottleneck(cin, width, stride))
            cin = width * Bottleneck.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def image_batch(batch: int, dev: torch.device, classes: int = 1000) -> tuple[torch.Tensor, ...]:
    """One synthetic ImageNet-shaped batch, made on the device (channels-last)."""
    side = 64 if SMALL else 224
    x = torch.randn(batch, 3, side, side, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=dev)
    return x, y


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, c // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        if mask is None:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(
        self, vocab: int = 50257, context: int = 1024, width: int = 768, layers: int = 12
    ) -> None:
        super().__init__()
        if SMALL:
            vocab, context, width, layers = 512, 128, 64, 2
        self.context = context
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, max(1, width // 64)) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.size(1), device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def gpt() -> GPT:
    return GPT()


def token_batch(batch: int, dev: torch.device, model: GPT) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic token windows (inputs and next-token targets), made on the device."""
    vocab = model.tok.num_embeddings
    data = torch.randint(0, vocab, (batch, model.context + 1), device=dev)
    return data[:, :-1], data[:, 1:]
