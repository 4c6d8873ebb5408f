"""torchvision detectors on edgekit's detection data: ``model: {source: "torchvision:ssdlite320_mobilenet_v3_large"}``.

``TVDetector`` wraps torchvision's model so that the rest of edgekit sees what it sees in every model: a module
whose ``forward`` takes the normalised canvas (B, C, H, W) as one tensor (torch-pruning traces it, MACs are counted
on it). torchvision's own interface stays reachable: ``losses`` (train mode: images + targets -> the detector's
loss dict) and ``detect`` (eval mode: boxes, scores, labels per image after the detector's own NMS). Class ids are
edgekit's (0..K-1); torchvision's 0 is background, so the net has K+1 classes and its labels are shifted by one.

``CanvasTransform`` replaces torchvision's resize-and-normalise: edgekit's images arrive normalised
(``preprocess.json``) at the fixed canvas size, so the exported file has no Resize and boxes stay in canvas pixels.

    >>> # det = build_tv_detector("ssdlite320_mobilenet_v3_large", num_classes=10)  # random backbone
    >>> # det.detect(x)  # [(boxes (N, 4) xyxy px, scores (N,), labels (N,) int64), ...]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

TOP_K = 100  # detections per image after NMS: COCO's maxDets (torchvision's SSD/RetinaNet default to 300)

# name -> the ImageNet backbone weights torchvision names for it (torchvision.models.get_weight), and whether the
# net is one-stage (backbone -> head dict): only those are traced by torch-pruning (``forward`` below)
TV_DETECTORS: dict[str, dict] = {
    "ssdlite320_mobilenet_v3_large": {"backbone": "MobileNet_V3_Large_Weights.IMAGENET1K_V1", "one_stage": True},
    "fasterrcnn_mobilenet_v3_large_320_fpn": {
        "backbone": "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
        "one_stage": False,
    },
}


def _canvas_transform():
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    class CanvasTransform(GeneralizedRCNNTransform):
        def normalize(self, image):  # already normalised by the dataset's mean/std (preprocess.json)
            return image

        def resize(self, image, target=None):  # already at the canvas size
            return image, target

    return CanvasTransform(1, 1, [0.0], [1.0], size_divisible=1)  # sizes and mean/std unused: both overridden


def _ssdlite(num_classes: int, backbone_weights) -> nn.Module:
    """torchvision's ``ssdlite320_mobilenet_v3_large`` assembled from its parts, with the full MobileNetV3 tail
    whether or not ImageNet weights are loaded (torchvision's builder halves the tail without them, so a file
    trained on a random backbone would not rebuild the same as one trained on a pretrained backbone)."""
    from functools import partial

    from torchvision.models import mobilenet_v3_large
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import SSDLiteHead, _mobilenet_extractor, _normal_init

    norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)  # torchvision's SSDlite BN settings
    base = mobilenet_v3_large(weights=backbone_weights, norm_layer=norm)
    if backbone_weights is None:
        _normal_init(base)  # torchvision's init for a random backbone
    backbone = _mobilenet_extractor(base, 6, norm)  # all 6 stages trainable, as torchvision's default
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    channels = det_utils.retrieve_out_channels(backbone, (320, 320))
    head = SSDLiteHead(channels, anchors.num_anchors_per_location(), num_classes + 1, norm)
    return SSD(backbone, anchors, (320, 320), num_classes + 1, head=head, score_thresh=0.001, nms_thresh=0.55)


def build_tv_detector(name: str, num_classes: int, backbone_weights=None) -> TVDetector:
    """``backbone_weights``: a torchvision weights enum already on disk (``detect_tv_weights``) or None."""
    import torchvision

    if name == "ssdlite320_mobilenet_v3_large":
        net = _ssdlite(num_classes, backbone_weights)
    else:
        net = torchvision.models.get_model(
            name, weights=None, weights_backbone=backbone_weights, num_classes=num_classes + 1
        )
    return TVDetector(net, num_classes)


class TVDetector(nn.Module):
    def __init__(self, net: nn.Module, num_classes: int):
        super().__init__()
        self.net, self.num_classes = net, num_classes
        net.transform = _canvas_transform()
        if hasattr(net, "detections_per_img"):  # SSD, RetinaNet, FCOS
            net.detections_per_img = TOP_K
        else:  # Faster R-CNN
            net.roi_heads.detections_per_img = TOP_K

    def forward(self, x: torch.Tensor):
        """(B, C, H, W) -> the raw head outputs of a one-stage detector (torch-pruning's trace, MAC counts)."""
        feats = self.net.backbone(x)
        feats = list(feats.values()) if isinstance(feats, dict) else [feats]
        if not hasattr(self.net, "head"):  # two-stage: the region proposals need image sizes; backbone only
            return tuple(feats)
        return tuple(self.net.head(feats).values())

    def losses(self, x: torch.Tensor, boxes: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """Train mode: the detector's own loss terms on a batch (boxes xyxy canvas pixels, labels 0..K-1)."""
        targets = [
            {"boxes": torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4), "labels": torch.as_tensor(c) + 1}
            for b, c in zip(boxes, labels)
        ]
        return self.net(list(x), targets)

    def detect(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Eval mode: per image (boxes (N, 4) xyxy px, scores (N,), labels (N,) 0..K-1), N <= TOP_K after NMS."""
        return [(o["boxes"], o["scores"], o["labels"] - 1) for o in self.net(list(x))]


class Exported(nn.Module):
    """The ONNX file's form, batch 1: (1, C, H, W) -> boxes (1, N, 4), scores (1, N), labels (1, N) int64."""

    def __init__(self, det: TVDetector):
        super().__init__()
        self.det = det

    def forward(self, x: torch.Tensor):
        boxes, scores, labels = self.det.detect(x[:1])[0]
        return boxes[None], scores[None], labels[None]
