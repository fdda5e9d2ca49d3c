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
import torch.nn.functional as F
from torch import nn


class ConvBnAct(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x)


class Cell(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.dw = nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c, bias=False)
        self.inner = ConvBnAct(c=c)
        self.pool = nn.MaxPool2d(3, stride=stride, padding=1)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        x = self.dw(s0)
        inner = self.inner(x)
        pool = self.pool(s1)
        x = torch.zeros_like(s0[:, :, ::self.stride, ::self.stride])
        x = inner + pool + x
        return torch.cat([x, pool], dim=1)


class CellNet(nn.Module):
    """Maps (N, 1, 8, 8) inputs to (N, 10) logits; 1,698 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.cell1 = Cell(c=8, stride=1)
        self.reduce = nn.Conv2d(16, 8, 1, bias=False)
        self.cell2 = Cell(c=8, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.cell1(x, x)
        x = self.reduce(x)
        x = self.cell2(x, x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def build_model(weights: str | None = None) -> CellNet:
    """Build the network; with ``weights``, load the state dict file saved beside this one.

    The model is returned in eval mode: dropout off, batch norm on its running statistics.
    """
    model = CellNet()
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":
    # Smoke test: a random batch through the untrained network.
    print(build_model()(torch.randn(2, 1, 8, 8)).shape)
