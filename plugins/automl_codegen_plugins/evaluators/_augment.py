"""Random crop and horizontal flip of whole batches, on the device the batch is on.

The standard CIFAR augmentation (pad by 4, crop back to 32×32 at a random offset, flip
half of the images) done as two ``gather`` calls on the batch tensor, so no image goes
through a Python loop or back to the host. The random offsets and flips are drawn on the
CPU from the trainer's seeded generator, for a whole epoch at once: the same seed gives
the same augmented images on every device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the name every PyTorch reader expects

__all__ = ["crop_flip", "draw", "padding_for"]


def padding_for(height: int, width: int) -> int:
    """Zero padding of the random crop: 1/8 of the shorter side (4 at 32×32, 1 at 8×8)."""
    return max(1, round(min(height, width) / 8))


def draw(n: int, padding: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop offsets ``(n, 2)`` in ``[0, 2 * padding]`` (rows, columns) and flips ``(n,)``."""
    shifts = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return shifts, flips


def crop_flip(x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` zero-padded by ``padding``, cropped at ``shifts``, flipped where ``flips``.

    An offset of ``padding`` with no flip returns the image unchanged. ``shifts`` and
    ``flips`` must be on ``x``'s device.
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = shifts[:, :1] + torch.arange(h, device=x.device)  # (N, H): source row of each output row
    cols = shifts[:, 1:] + torch.arange(w, device=x.device)  # (N, W)
    # A flipped image reads its crop's columns right to left.
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
