"""Small architectures for the pruning tests, built through ``python:prune_models:NAME`` model sources."""

from __future__ import annotations

import torch
from torch import nn


class GroupedConcatNet(nn.Module):
    """Grouped and depthwise convs, a two-branch concatenation and a residual add: the couplings
    torch-pruning has to follow across layers."""

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.grouped = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1, groups=4, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.branch_a = nn.Sequential(nn.Conv2d(32, 24, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.branch_b = nn.Sequential(
            nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False),
            nn.BatchNorm2d(32),
            nn.Conv2d(32, 24, 1, bias=False),
            nn.BatchNorm2d(24),
            nn.ReLU(),
        )
        self.mix = nn.Sequential(nn.Conv2d(48, 48, 3, 2, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU())
        self.fc = nn.Linear(48, num_classes)

    def forward(self, x):  # (B, C, H, W) -> (B, classes)
        x = self.stem(x)
        x = x + self.grouped(x)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)  # (B, 48, H/2, W/2)
        return self.fc(self.mix(x).mean((2, 3)))


def grouped_concat(num_classes: int, in_channels: int) -> nn.Module:
    return GroupedConcatNet(num_classes, in_channels)


class BertClassifier(nn.Module):
    """A Hugging Face BERT encoder + linear head; token ids (B, T) int64 -> logits (B, classes)."""

    def __init__(self, num_classes: int, layers: int = 2, hidden: int = 64, heads: int = 4):
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=100,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
            max_position_embeddings=32,
            attn_implementation="eager",
        )
        self.bert = BertModel(config, add_pooling_layer=False)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, input_ids):
        return self.head(self.bert(input_ids=input_ids).last_hidden_state[:, 0])


def tiny_bert(num_classes: int, in_channels: int) -> nn.Module:
    torch.manual_seed(0)
    return BertClassifier(num_classes)


class HardcodedNet(nn.Module):
    """A pooling layer that assumes 16 channels: torch-pruning cannot know, and the pruned model breaks there."""

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.pool = Pool16()
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)))


class Pool16(nn.Module):
    def forward(self, x):  # (B, 16, H, W) -> (B, 16)
        return x.reshape(x.shape[0], 16, x.shape[2] * x.shape[3]).mean(2)


def hardcoded(num_classes: int, in_channels: int) -> nn.Module:
    return HardcodedNet(num_classes, in_channels)
