"""A neural network found by AutoML-CodeGen, written out as standalone PyTorch code.

Input: a float32 tensor of shape (N, 3, 8, 8), N being the batch size.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from RepeatNet, which has 2,482 parameters.

Usage:
    from model import build_model
    model = build_model("model.pt")  # build_model() for fresh weights
    logits = model(x)
"""

import torch
import torch.nn.functional as F
from torch import nn


class Unit(nn.Module):
    def __init__(self, c_in: int, c_out: int, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out = F.relu(out)
        if self.residual:
            out = x + out
        return out


class Halves(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.left = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.right = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.left(x), self.right(x[:, :, 1:, 1:])], dim=1)
        return self.bn(x)


class Pair(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, c: int, wide: bool = False) -> None:
        super().__init__()
        self.pre0 = (Halves if wide else Unit)(c_in=c_prev_prev, c_out=c)
        self.pre1 = Unit(c_in=c_prev, c_out=c)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        pre0 = self.pre0(s0)
        pre1 = self.pre1(s1)
        total = pre0 + pre1
        return torch.cat([total, pre1], dim=1)


class RepeatNet(nn.Module):
    """Maps (N, 3, 8, 8) inputs to (N, 10) logits; 2,482 parameters."""

    def __init__(self, c: int = 4, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 2 * c, 3, padding=1, bias=False)
        self.units = nn.Sequential(
            Unit(c_in=2 * c, c_out=4 * c),
            *(Unit(c_in=4 * c, c_out=4 * c, residual=True) for _ in range(2)),
        )
        self.cells = nn.ModuleList(
            [Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c) for _ in range(2)]
        )
        self.cell2 = Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c, wide=True)
        self.cell3 = Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c)
        self.cell4 = Pair(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c)
        self.fc = nn.Linear(8 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        s0 = s1 = self.units(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        pool = F.max_pool2d(s1, 2)
        cell2 = self.cell2(s0, pool)
        cell3 = self.cell3(pool, cell2)
        x = torch.cat([cell3, self.cell4(cell2, cell3)], dim=1)
        x = x.mean(dim=(2, 3))
        return self.fc(x)


def build_model(weights: str | None = None, c: int = 4, num_classes: int = 10) -> RepeatNet:
    """The network in eval mode; with ``weights``, the state dict file saved beside this one."""
    model = RepeatNet(c=c, num_classes=num_classes)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(torch.randn(2, 3, 8, 8)).shape)
