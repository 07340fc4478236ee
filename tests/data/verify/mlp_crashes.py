"""A deliberately broken "fix" of fixtures/train/mlp_classifier.py (test data for verify).

The softmax was replaced by a name that does not exist: it crashes on the first batch.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

DIM, CLASSES, HIDDEN = 32, 8, 128


def make_data(n=8192):
    centers = torch.randn(CLASSES, DIM) * 1.5
    labels = torch.randint(0, CLASSES, (n,))
    points = centers[labels] + torch.randn(n, DIM)
    return TensorDataset(points, labels)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=0.1)  # anti-pattern: TL004
        x = F.relu(self.fc2(x))
        return self.out(x)


def main():
    loader = DataLoader(make_data(), batch_size=128, shuffle=True)
    model = MLP().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(4):
        model.train()
        running_loss, correct, seen = 0.0, 0, 0
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=False)  # anti-pattern: TL107
            logits = model(inputs)
            loss = F.cross_entropy(logit, labels)  # broken: `logit` is undefined
            loss.backward()
            optimizer.step()
            running_loss += loss.item()  # anti-pattern: TL101
            correct += (logits.argmax(dim=1) == labels).sum().item()  # anti-pattern: TL101
            seen += labels.numel()
        print(f"epoch {epoch}: loss {running_loss / len(loader):.4f} accuracy {correct / seen:.3f}")


if __name__ == "__main__":
    main()
