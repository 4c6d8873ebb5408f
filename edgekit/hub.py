"""Hugging Face Hub ids as model names: ``org/name[@revision]`` resolved into the Hub's own cache.

    fetch("openai/clip-vit-base-patch32")          # -> HubModel(path=<snapshot folder>, commit="3d74acf...", ...)
    fetch("sentence-transformers/all-MiniLM-L6-v2@c9745ed1d9f207416be6d2e6f8de32d1f16199bf")

Downloads go through ``huggingface_hub.snapshot_download`` (its progress bars, its cache: ``HF_HUB_CACHE`` or
``HF_HOME``, its token from ``HF_TOKEN`` or ``hf auth login``; edgekit never reads, logs or stores the token).
Only what a model folder needs is fetched (configs, tokenizer files, safetensors weights, ``.bin`` only when a
repository has no safetensors): the ONNX/OpenVINO/TF/Flax copies many repositories carry would triple the
download. ``HF_HUB_OFFLINE=1`` or ``EDGEKIT_OFFLINE=1`` reads the cache only.

What a stage read is the resolved commit sha plus a hash of the snapshot's files: the cache names each file's
blob by its content hash (sha256 for LFS weights, git's sha1 otherwise), so hashing those names is a content
hash that costs no read of a 600 MB weight file. A moved ``main`` is another commit, so another stage key."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import InputError, require

# org/name with the Hub's characters; an optional @revision (branch, tag or commit sha)
HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<rev>[\w./-]{1,200}))?$")
MODEL_FILES = ["*.json", "*.txt", "*.model", "*.tiktoken", "*.safetensors"]  # configs, vocabularies, weights
LEGACY_WEIGHTS = ["*.bin"]  # pytorch_model.bin: only for repositories without safetensors
SKIP = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.gguf"]
_TRUE = {"1", "true", "yes", "on"}


class HubUnreachable(InputError):
    """The model is not in the local Hub cache and the Hub cannot be asked (offline, or no network)."""


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    revision: str  # what the recipe asked for ("main" unless pinned)
    commit: str  # the commit sha that revision resolved to
    path: Path  # the snapshot folder in the Hub cache
    files: str  # sha256 over (path, blob id) of every file in the snapshot

    def record(self) -> dict:
        """What the stage key and the manifest keep (no paths: the key must not depend on where the cache is)."""
        return {"id": self.repo_id, "revision": self.revision, "commit": self.commit, "files": self.files}


def parse(name: str) -> tuple[str, str] | None:
    """``org/name[@rev]`` -> (repo_id, revision); None when ``name`` is not written like a Hub id."""
    m = HUB_ID.match(name)
    return (m.group("repo"), m.group("rev") or "main") if m else None


def offline() -> bool:
    """HF_HUB_OFFLINE or EDGEKIT_OFFLINE set: read the cache only. Read at each call (huggingface_hub reads its
    variable once, at import), so a test or a wrapper script can set it late."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "EDGEKIT_OFFLINE"))


def cache_dir() -> Path:
    hf = require("huggingface_hub.constants", "text")
    return Path(os.environ.get("HF_HUB_CACHE") or hf.HF_HUB_CACHE)


def fetch(name: str) -> HubModel:
    """The snapshot of Hub id ``name`` (downloaded when missing and allowed). Raises HubUnreachable when it is
    not cached and the Hub cannot be reached, InputError when the Hub says no (no such repo/revision, gated)."""
    parsed = parse(name)
    if parsed is None:
        raise InputError(f"{name}: not a Hugging Face Hub id (org/name or org/name@revision)")
    repo_id, revision = parsed
    hub = require("huggingface_hub", "text")
    errors = require("huggingface_hub.errors", "text")
    local = offline()
    try:
        folder = _download(hub, repo_id, revision, local, MODEL_FILES)
        if not _has_weights(Path(folder)):
            folder = _download(hub, repo_id, revision, local, MODEL_FILES + LEGACY_WEIGHTS)
    except errors.LocalEntryNotFoundError:
        why = "offline (HF_HUB_OFFLINE/EDGEKIT_OFFLINE set)" if local else "the Hub cannot be reached"
        raise HubUnreachable(
            f"{repo_id}@{revision}: not in the Hugging Face cache ({cache_dir()}) and {why}; "
            f"download it once with network access (hf download {repo_id}), or name a local folder"
        ) from None
    except errors.RevisionNotFoundError:
        raise InputError(f"{repo_id}: the Hub has no revision '{revision}'") from None
    except errors.GatedRepoError:
        raise InputError(
            f"{repo_id}: gated on the Hub: accept its terms on huggingface.co, then log in "
            f"(hf auth login) or set HF_TOKEN"
        ) from None
    except errors.RepositoryNotFoundError:
        raise InputError(
            f"{repo_id}: no such model on the Hugging Face Hub (or private: log in with hf auth login or set HF_TOKEN)"
        ) from None
    path = Path(folder)
    return HubModel(repo_id, revision, path.name, path, snapshot_hash(path))


def _download(hub, repo_id: str, revision: str, local: bool, allow: list[str]) -> str:
    return hub.snapshot_download(
        repo_id,
        revision=revision,
        cache_dir=os.environ.get("HF_HUB_CACHE") or None,
        allow_patterns=allow,
        ignore_patterns=SKIP,
        local_files_only=local,
    )


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def snapshot_hash(folder: Path) -> str:
    """sha256 over (relative path, blob name) of a snapshot's files; a file that is not a link into blobs/
    (a cache written without symlinks) is hashed by content."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        blob = os.path.basename(os.readlink(p)) if p.is_symlink() else _file_sha256(p)
        h.update(p.relative_to(folder).as_posix().encode() + b"\0" + blob.encode() + b"\0")
    return h.hexdigest()


def _file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
