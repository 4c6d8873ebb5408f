"""A torchvision detector's ImageNet backbone weights, when reachable: ``model: {weights: imagenet}``.

torchvision keeps downloaded checkpoints in torch's hub cache (``$TORCH_HOME/hub/checkpoints``, file names carrying
a hash prefix). A checkpoint already there is used without a request; otherwise it is downloaded (hash checked) unless
``EDGEKIT_OFFLINE``/``HF_HUB_OFFLINE`` is set. When it cannot be had, training goes on from a random backbone and
says so in one line (and in the train stage's row), as the prompted baselines say "not compared: offline".

    >>> # weights, note = backbone_weights("ssdlite320_mobilenet_v3_large")  # (enum, None) or (None, "...")
"""

from __future__ import annotations

from pathlib import Path

from edgekit.torchkit.detect_tv_model import TV_DETECTORS


def checkpoint_path(name: str) -> tuple[object, Path]:
    """(torchvision weights enum, where torch's hub cache keeps its file) for detector ``name``'s backbone."""
    import torch
    import torchvision

    weights = torchvision.models.get_weight(TV_DETECTORS[name]["backbone"])
    return weights, Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def backbone_weights(name: str) -> tuple[object | None, str | None]:
    """(weights enum to build with, None) when the checkpoint is on disk after this call; (None, one-line note)
    when it is not cached and cannot be downloaded (offline, no network, a bad hash)."""
    import torch

    from edgekit.hub import offline

    weights, path = checkpoint_path(name)
    if path.is_file():
        return weights, None
    if offline():
        return None, f"ImageNet backbone weights not cached ({path.name}) and offline set: random backbone"
    try:
        torch.hub.load_state_dict_from_url(weights.url, progress=True, check_hash=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a hash mismatch a RuntimeError
        reason = str(getattr(e, "reason", e)).splitlines()[0][:120]
        return None, f"ImageNet backbone weights not reachable ({path.name}: {reason}): random backbone"
    return weights, None
