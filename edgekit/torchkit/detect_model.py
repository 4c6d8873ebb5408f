"""``edgekit:centernet-small``: a small anchor-free detector that trains on 2 CPU cores in minutes.

CenterNet's idea at one scale: a ResNet-ish backbone to stride 16, one upsampling neck back to stride 4, and three
heads on the stride-4 grid (B, *, H/4, W/4): a class heatmap (sigmoid; a peak per object centre), the box size in
grid cells, and the centre's sub-cell offset. ``Decoded`` wraps it for export: peak picking by a 3x3 max-pool
(CenterNet's NMS), top-k, and boxes in input pixels, so the ONNX file outputs what the metric reads:

    boxes (B, K, 4) xyxy pixels, scores (B, K), labels (B, K) int64

    >>> # model = centernet_small(num_classes=10, in_channels=1); raw = model(x)  # dict of heads
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edgekit.torchkit.blocks import BasicBlock


STRIDE = 4  # input pixels per heatmap cell
TOP_K = 100  # detections per image, COCO's maxDets
HEAT_PRIOR = 0.01  # initial heatmap probability: the focal loss starts near its optimum on background (CenterNet)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class CenterNetSmall(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c = [max(8, int(round(w * width))) for w in (16, 32, 64, 96)]
        self.num_classes = num_classes
        self.stem = nn.Sequential(_conv(in_channels, c[0], 2), BasicBlock(c[0], c[1], 2))  # stride 4
        self.down8 = BasicBlock(c[1], c[2], 2)
        self.down16 = BasicBlock(c[2], c[3], 2)
        self.lateral8 = nn.Conv2d(c[2], c[2], 1)
        self.fuse8 = _conv(c[3] + c[2], c[2])  # neck: upsample 16 -> 8, concat, fuse; then 8 -> 4
        self.fuse4 = _conv(c[2] + c[1], c[1])
        self.heat = nn.Sequential(_conv(c[1], c[1]), nn.Conv2d(c[1], num_classes, 1))
        self.size = nn.Sequential(_conv(c[1], c[1]), nn.Conv2d(c[1], 2, 1))
        self.offset = nn.Sequential(_conv(c[1], c[1]), nn.Conv2d(c[1], 2, 1))
        nn.init.constant_(self.heat[-1].bias, float(torch.logit(torch.tensor(HEAT_PRIOR))))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # x (B, C, H, W), any H and W
        f4 = self.stem(x)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        # upsampled to the finer map's own size, not by 2: a side that is no multiple of 16 (108 px: 27 -> 14 -> 7
        # cells) would otherwise give 14 vs 27 and fail the concat
        up = F.interpolate(f16, size=f8.shape[-2:], mode="nearest")
        n8 = self.fuse8(torch.cat([up, self.lateral8(f8)], 1))
        n4 = self.fuse4(torch.cat([F.interpolate(n8, size=f4.shape[-2:], mode="nearest"), f4], 1))
        # heat: logits (B, K, H/4, W/4); size: (w, h) in cells; offset: centre - cell corner, in cells
        return {"heat": self.heat(n4), "size": self.size(n4), "offset": self.offset(n4)}


class Decoded(nn.Module):
    """The exported form: heads -> (boxes, scores, labels), top ``k`` peaks per image."""

    def __init__(self, net: nn.Module, k: int = TOP_K):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x: torch.Tensor):
        out = self.net(x)
        logit = out["heat"]  # (B, K, h, w)
        b, n_cls, h, w = logit.shape
        # the peak test on the logits: float32 sigmoids round to exactly 1.0 from a logit of 16.6 (torch) or 15.9
        # (onnxruntime), so on probabilities a confident object's neighbouring cells tie at 1.0 in one runtime and
        # not the other, and the peak sets differ (max |score diff| 0.14 on a decoder-only case; a pruned detector
        # failed export parity). Scores stay probabilities: a 0..1 tensor quantizes well, a -inf fill would not
        is_peak = (F.max_pool2d(logit, 3, 1, 1) == logit).to(logit.dtype)
        peaks = torch.sigmoid(logit) * is_peak  # a peak keeps its score, others 0
        scores, idx = torch.topk(peaks.reshape(b, -1), min(self.k, n_cls * h * w))  # (B, k)
        labels = torch.div(idx, h * w, rounding_mode="floor")
        cell = idx - labels * (h * w)  # (B, k) index into the h*w grid
        ys = torch.div(cell, w, rounding_mode="floor").to(logit.dtype)
        xs = (cell - torch.div(cell, w, rounding_mode="floor") * w).to(logit.dtype)
        gather = cell.unsqueeze(1).expand(b, 2, cell.shape[1])
        size = out["size"].reshape(b, 2, h * w).gather(2, gather)  # (B, 2, k) w, h in cells
        off = out["offset"].reshape(b, 2, h * w).gather(2, gather)
        cx, cy = xs + off[:, 0], ys + off[:, 1]
        half_w, half_h = size[:, 0].clamp(min=0) / 2, size[:, 1].clamp(min=0) / 2
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1) * STRIDE  # (B, k, 4)
        return boxes, scores, labels
