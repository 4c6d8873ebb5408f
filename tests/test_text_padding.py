"""Text models skip the padding: trimmed batches give the same outputs, length-grouped batches cover every
sample once, and texts scored in length order come back in their own order."""

import numpy as np
import pytest
import torch

from edgekit.data.dataset import Split
from edgekit.torchkit.soft_labels import teacher_logits
from edgekit.torchkit.text import BagOfWords, EncoderClassifier, by_length, trim_padding
from edgekit.torchkit.training import batches


def _ids(n: int = 48, length: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, length), np.int64)
    for row, k in zip(ids, rng.integers(1, 30, n)):  # right-padded with 0, like both tokenizers
        row[:k] = rng.integers(2, 500, k)
    return ids


def _tiny_encoder() -> EncoderClassifier:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=500,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    return EncoderClassifier(transformers.BertModel(config), num_classes=3, normalize=True).eval()


@pytest.mark.parametrize("make", [_tiny_encoder, lambda: BagOfWords(500, 3).eval()], ids=["encoder", "bow"])
def test_trimmed_padding_leaves_the_outputs_unchanged(make):
    model, ids = make(), torch.from_numpy(_ids())
    assert trim_padding(ids, 0).shape[1] == int((ids != 0).sum(1).max()) < 64
    with torch.no_grad():
        trimmed = model(ids)  # forward trims
        full = model(torch.cat([ids, torch.full((1, 64), 7)]))[:-1]  # one full-length row: nothing to trim
    torch.testing.assert_close(trimmed, full, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_traced_models_keep_their_input_length():
    ids = torch.from_numpy(_ids(4))
    traced = torch.jit.trace(lambda x: trim_padding(x, 0) + 0, ids, check_trace=False)
    assert traced(ids).shape == ids.shape  # an exported graph is timed on the shipped shape, not a trimmed one


def test_unshuffled_batches_come_in_length_order_and_shuffled_ones_stay_random():
    ids = _ids(1000)
    split = Split(ids, np.arange(1000))
    lengths = (ids != 0).sum(1)
    in_order = np.concatenate([y.numpy() for _, y in batches(split, 32, (), (), pad_id=0)])
    assert np.array_equal(in_order, by_length(ids, 0)) and np.all(np.diff(lengths[in_order]) >= 0)
    shuffled = [y.numpy() for _, y in batches(split, 32, (), (), np.random.default_rng(0), pad_id=0)]
    plain = [y.numpy() for _, y in batches(split, 32, (), (), np.random.default_rng(0))]
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, plain))


def test_teacher_scores_texts_in_length_order_but_returns_them_in_theirs():
    texts = np.array(["a much longer text than the rest", "b", "a medium text", "", "cc"], dtype=object)
    calls = []

    class Lengths(torch.nn.Module):
        def forward(self, x):  # logits (B, 1): the length each row was given
            calls.append(x[:, 0].tolist())
            return x.to(torch.float32)

    out = teacher_logits(Lengths(), lambda raw: np.array([[len(t)] for t in raw]), texts, batch_size=2)
    assert out[:, 0].tolist() == [float(len(t)) for t in texts]
    assert calls == [[0, 1], [2, 13], [32]]
