"""A neural network found by AutoML-CodeGen, written out as standalone PyTorch code.

Input: a float32 tensor of shape (N, 1, 8, 8), N being the batch size.
Normalisation: x / 16, then (x - 0.3) / 0.4
Output: (N, 10) logits from ChainNet, which has 704 parameters.

Measured during the search:
    accuracy: 0.9811
    latency_ms: 0.1234
    params: 704

Search: dataset digits, strategy evolution, space chain-cnn.
Genotype: {"stages": [{"op": "conv", "width": 8}, {"kernel": 3, "op": "pool"}]}

Usage:
    from model import build_model, preprocess
    model = build_model("model.pt")  # build_model() for fresh weights
    logits = model(preprocess(pixels))
"""

import torch
import torch.nn.functional as F
from torch import nn

# What the search's dataset did to stored pixel values: divide by SCALE, then per channel
# subtract MEAN and divide by STD (see preprocess below).
SCALE = 16.0
MEAN = (0.3,)
STD = (0.4,)


class ChainNet(nn.Module):
    """Maps (N, 1, 8, 8) inputs to (N, 10) logits; 704 parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8, eps=0.001, momentum=0.01)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, bias=False)
        self.bn_plain = nn.BatchNorm2d(8, affine=False)
        self.drop = nn.Dropout(p=0.2)
        self.fc = nn.Linear(32, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.bn(x)
        x = F.relu(x)
        x = self.grouped(x)
        x = self.bn_plain(x)
        x = F.relu6(x)
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = F.hardswish(x)
        x = F.avg_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.drop(x)
        return self.fc(x)


def build_model(weights: str | None = None, num_classes: int = 10) -> ChainNet:
    """The network in eval mode; with ``weights``, the state dict file saved beside this one."""
    model = ChainNet(num_classes=num_classes)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def preprocess(pixels: torch.Tensor) -> torch.Tensor:
    """Pixel values (N, C, H, W) as the dataset stored them -> the network's input."""
    x = torch.as_tensor(pixels, dtype=torch.float32) / SCALE
    mean = torch.tensor(MEAN).view(1, -1, 1, 1)
    std = torch.tensor(STD).view(1, -1, 1, 1)
    return (x - mean) / std


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(torch.randn(2, 1, 8, 8)).shape)
