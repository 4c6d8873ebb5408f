"""Zero-/few-shot classification with a local generative model, scored by label likelihood.

The model never generates free text: for each class we compute log P(label tokens, end-of-turn | prompt)
and take the most likely class, so every answer is a valid class (no parsing failures). The prompt is
encoded once; the K label continuations then run as one batch on top of its key/value cache.

Calibrated (the default): a small model prefers some label words whatever the text says (short, frequent,
single-token ones), so each class's log-probability given content-free inputs ("N/A", "", "[MASK]") is
subtracted first (contextual calibration, Zhao et al. 2021, "Calibrate Before Use").

    llm = LLMScorer(model=Path(".../SmolLM2-135M-Instruct.Q4_1.gguf"), labels=LabelSet.of(["animal", "plant"]))
    llm.classify(["a small domesticated feline"])   # -> array([0])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgekit.baselines.base import Baseline, LabelSet, chat_messages, disk_size, example_indices
from edgekit.data.dataset import Split
from edgekit.errors import InputError, require

DEFAULT_INSTRUCTION = (
    "Classify the text into exactly one of these categories: {labels}.\n\n"
    "Text: {input}\n\nAnswer with the category name only."
)
CONTENT_FREE = ("N/A", "", "[MASK]")


def pick_examples(train: Split, k: int, seed: int) -> list[tuple]:
    """``k`` seeded training examples (text as str, images as uint8 (C, H, W)), cycling through the classes so
    each appears about equally."""
    text = train.x.dtype.kind in "OUS"
    return [(str(train.x[i]) if text else train.x[i], int(train.y[i])) for i in example_indices(train.y, k, seed)]


class LLMScorer(Baseline):
    provider = "llm"
    content_free = CONTENT_FREE

    def __init__(
        self,
        model: Path,
        labels: LabelSet,
        instruction: str = DEFAULT_INSTRUCTION,
        examples: Sequence[tuple[str, int]] = (),
        calibrate: bool = True,
        **_unused,
    ):
        import torch

        transformers = require("transformers", "text")
        model = Path(model)
        if model.is_file() and model.suffix == ".gguf":  # transformers de-quantizes GGUF weights to float32
            where, kw = str(model.parent), {"gguf_file": model.name}
        elif model.is_dir():
            where, kw = str(model), {}
        else:
            raise InputError(f"{model}: expected a .gguf file or a Hugging Face model folder")
        for placeholder in ("{labels}", "{input}"):
            if placeholder not in instruction:
                raise InputError(f"instruction has no {placeholder} placeholder")
        self.tok = transformers.AutoTokenizer.from_pretrained(where, **kw)
        self.lm = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kw).eval()
        self.labels = labels
        self.instruction = instruction
        self.examples = list(examples)
        self.calibrate = calibrate
        self._prior: np.ndarray | None = None  # (K,) label log-probabilities for content-free inputs
        self.size_bytes = disk_size(model)
        self.params = sum(p.numel() for p in self.lm.parameters())
        self.prompt_tokens = 0
        # transformers 5 renamed the cache argument; older versions only know past_key_values
        self._cache_kw = "cache" if "cache" in inspect.signature(self.lm.forward).parameters else "past_key_values"
        end = self.tok.eos_token_id
        # each label answer: its tokens, then end-of-turn (so "animal" does not also score "animal husbandry")
        self.label_ids = [
            self.tok(n, add_special_tokens=False).input_ids + ([end] if end is not None else []) for n in labels.names
        ]

    def _prompt_ids(self, text: str) -> list[int]:
        messages = chat_messages(self.instruction, self.labels.names, self.examples, text)
        if self.tok.chat_template:
            prompt = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # a base model: plain text turns
            prompt = "".join(f"{m['content']}\n" if m["role"] == "user" else f"{m['content']}\n\n" for m in messages)
        return self.tok(prompt, add_special_tokens=False).input_ids

    def scores(self, text: str) -> np.ndarray:
        """log P(label_k | prompt) for each class k: (K,) float."""
        import torch

        ids = torch.tensor([self._prompt_ids(text)])  # (1, P)
        self.prompt_tokens += ids.shape[1]
        k, longest = len(self.label_ids), max(map(len, self.label_ids))
        cont = torch.full((k, longest), self.tok.eos_token_id or 0, dtype=torch.long)  # (K, Lmax), right-padded
        for i, lab in enumerate(self.label_ids):
            cont[i, : len(lab)] = torch.tensor(lab)
        with torch.no_grad():
            out = self.lm(input_ids=ids, use_cache=True)
            first = torch.log_softmax(out.logits[0, -1], -1)  # (V,) next-token distribution after the prompt
            cache = getattr(out, "cache", None)
            cache = out.past_key_values if cache is None else cache
            cache.batch_repeat_interleave(k)  # in place: the prompt's keys/values once per label
            # causal attention: padding after a label cannot change the label's own log-probabilities
            rest = torch.log_softmax(
                self.lm(input_ids=cont, use_cache=False, **{self._cache_kw: cache}).logits, -1
            )  # (K, Lmax, V)
        total = np.zeros(k)
        for i, lab in enumerate(self.label_ids):
            total[i] = float(first[lab[0]]) + sum(float(rest[i, j - 1, lab[j]]) for j in range(1, len(lab)))
        return total

    def prior(self) -> np.ndarray:
        """log of the mean label distribution (normalised over the K labels) the model gives content-free inputs."""
        if self._prior is None:
            tokens = self.prompt_tokens  # calibration is a fixed cost, not part of any query
            probs = [np.exp(_log_normalise(self.scores(t))) for t in CONTENT_FREE]
            self._prior, self.prompt_tokens = np.log(np.mean(probs, axis=0)), tokens
        return self._prior

    def classify(self, samples: Sequence[str]) -> np.ndarray:
        shift = self.prior() if self.calibrate else 0.0
        return np.array([int(np.argmax(_log_normalise(self.scores(str(s))) - shift)) for s in samples], np.int64)

    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens}


def _log_normalise(scores: np.ndarray) -> np.ndarray:
    return scores - np.logaddexp.reduce(scores)
