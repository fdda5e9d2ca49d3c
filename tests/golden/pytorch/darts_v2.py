"""A neural network found by AutoML-CodeGen, written out as standalone PyTorch code.

Input: a float32 tensor of shape (N, 3, 32, 32), N being the batch size.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from DartsNetwork, which has 3,349,342 parameters.

Search: space darts-cell.
Genotype: {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0],
    ["sep_conv_3x3", 1], ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0],
    ["dil_conv_3x3", 2]], "normal_concat": [2, 3, 4, 5], "reduce": [["max_pool_3x3", 0],
    ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1], ["max_pool_3x3", 0],
    ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]], "reduce_concat": [2, 3,
    4, 5]}

Usage:
    from model import build_model
    model = build_model("model.pt")  # build_model() for fresh weights
    logits = model(x)
"""

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)


class SepConv(nn.Sequential):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.relu1 = nn.ReLU()
        self.dw1 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.pw1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu2 = nn.ReLU()
        self.dw2 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.pw2 = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)


class DilConv(nn.Sequential):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.dw = nn.Conv2d(c, c, 3, padding=2, dilation=2, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        x = torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1)
        return self.bn(x)


class NormalCell(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool = False) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_in=c_prev_prev, c_out=c)
        else:
            self.preprocess0 = ReLUConvBN(c_in=c_prev_prev, c_out=c)
        self.preprocess1 = ReLUConvBN(c_in=c_prev, c_out=c)
        self.node2_op0 = SepConv(c=c)
        self.node2_op1 = SepConv(c=c)
        self.node3_op0 = SepConv(c=c)
        self.node3_op1 = SepConv(c=c)
        self.node4_op0 = SepConv(c=c)
        self.node5_op1 = DilConv(c=c)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        preprocess0 = self.preprocess0(s0)
        preprocess1 = self.preprocess1(s1)
        node2 = self.node2_op0(preprocess0) + self.node2_op1(preprocess1)
        node3 = self.node3_op0(preprocess0) + self.node3_op1(preprocess1)
        node4 = self.node4_op0(preprocess1) + preprocess0
        node5 = preprocess0 + self.node5_op1(node2)
        return torch.cat([node2, node3, node4, node5], dim=1)


class ReductionCell(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, c: int) -> None:
        super().__init__()
        self.preprocess0 = ReLUConvBN(c_in=c_prev_prev, c_out=c)
        self.preprocess1 = ReLUConvBN(c_in=c_prev, c_out=c)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        preprocess0 = self.preprocess0(s0)
        preprocess1 = self.preprocess1(s1)
        node2_op0 = F.max_pool2d(preprocess0, 3, stride=2, padding=1)
        node2 = node2_op0 + F.max_pool2d(preprocess1, 3, stride=2, padding=1)
        node3 = node2 + F.max_pool2d(preprocess1, 3, stride=2, padding=1)
        node4 = F.max_pool2d(preprocess0, 3, stride=2, padding=1) + node2
        node5 = node2 + F.max_pool2d(preprocess1, 3, stride=2, padding=1)
        return torch.cat([node2, node3, node4, node5], dim=1)


class DartsNetwork(nn.Module):
    """Maps (N, 3, 32, 32) inputs to (N, 10) logits; 3,349,342 parameters."""

    def __init__(self, c: int = 36, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 3 * c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(3 * c)
        self.cells = nn.ModuleList([
            NormalCell(c_prev_prev=3 * c, c_prev=3 * c, c=c),
            NormalCell(c_prev_prev=3 * c, c_prev=4 * c, c=c),
            *(NormalCell(c_prev_prev=4 * c, c_prev=4 * c, c=c) for _ in range(4)),
            ReductionCell(c_prev_prev=4 * c, c_prev=4 * c, c=2 * c),
            NormalCell(c_prev_prev=4 * c, c_prev=8 * c, c=2 * c, reduction_prev=True),
            *(NormalCell(c_prev_prev=8 * c, c_prev=8 * c, c=2 * c) for _ in range(5)),
            ReductionCell(c_prev_prev=8 * c, c_prev=8 * c, c=4 * c),
            NormalCell(c_prev_prev=8 * c, c_prev=16 * c, c=4 * c, reduction_prev=True),
            *(NormalCell(c_prev_prev=16 * c, c_prev=16 * c, c=4 * c) for _ in range(5)),
        ])
        self.classifier = nn.Linear(16 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        s0 = s1 = self.stem_bn(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        x = s1.mean(dim=(2, 3))
        return self.classifier(x)


def build_model(weights: str | None = None, c: int = 36, num_classes: int = 10) -> DartsNetwork:
    """The network in eval mode; with ``weights``, the state dict file saved beside this one."""
    model = DartsNetwork(c=c, num_classes=num_classes)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(torch.randn(2, 3, 32, 32)).shape)
