"""A neural network found by AutoML-CodeGen, written out as standalone PyTorch code.

Input: a float32 tensor of shape (N, 1, 8, 8), N being the batch size.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from CellNet, which has 1,698 parameters.

Usage:
    from model import build_model
    model = build_model("model.pt")  # build_model() for fresh weights
    logits = model(x)
"""

import torch
from torch import nn


class ConvBnAct(nn.Sequential):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()


class Cell(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.dw = nn.Conv2d(8, 8, 3, stride=stride, padding=1, groups=8, bias=False)
        self.inner = ConvBnAct()
        self.pool = nn.MaxPool2d(3, stride=stride, padding=1)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        x = self.dw(s0)
        x = self.inner(x)
        pool = self.pool(s1)
        total = x + pool + torch.zeros_like(s0[:, :, ::self.stride, ::self.stride])
        return torch.cat([total, pool], dim=1)


class CellNet(nn.Module):
    """Maps (N, 1, 8, 8) inputs to (N, 10) logits; 1,698 parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.cell1 = Cell(stride=1)
        self.reduce = nn.Conv2d(16, 8, 1, bias=False)
        self.cell2 = Cell(stride=2)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.cell1(x, x)
        x = self.reduce(x)
        x = self.cell2(x, x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def build_model(weights: str | None = None, num_classes: int = 10) -> CellNet:
    """The network in eval mode; with ``weights``, the state dict file saved beside this one."""
    model = CellNet(num_classes=num_classes)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(torch.randn(2, 1, 8, 8)).shape)
