"""TL106: ResNet-50 (bf16, batch 256) fed by a DataLoader that decodes and augments on the CPU,
with the default `num_workers=0` and no pinned memory: the training process prepares every batch."""

import torch
import torch.nn.functional as F
from models import SMALL, autocast, resnet50
from torch.utils.data import DataLoader, Dataset

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
SIDE, CROP = (72, 64) if SMALL else (256, 224)


class SyntheticImages(Dataset):
    """ "Decoded" uint8 images drawn from a per-index seed, then a random crop, a random flip and
    normalisation, on the CPU: the work a real image pipeline does after decoding."""

    def __len__(self) -> int:
        return 1_000_000

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(index)
        image = torch.randint(0, 256, (3, SIDE, SIDE), dtype=torch.uint8, generator=g)
        top, left = torch.randint(0, SIDE - CROP + 1, (2,), generator=g).tolist()
        image = image[:, top : top + CROP, left : left + CROP]
        if torch.rand((), generator=g) < 0.5:
            image = image.flip(2)
        image = (image.float() / 255 - MEAN) / STD
        return image, index % 1000


torch.manual_seed(0)
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = resnet50().to(dev, memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
loader = DataLoader(SyntheticImages(), batch_size=8 if SMALL else 256, shuffle=True, drop_last=True)
for images, labels in loader:
    images = images.to(dev).contiguous(memory_format=torch.channels_last)
    labels = labels.to(dev)
    optimizer.zero_grad()
    with autocast(dev):
        loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
