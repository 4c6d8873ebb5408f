"""edgekit: train or fine-tune a small model, shrink it, and measure it against a prompted large model."""

__version__ = "0.1.0"
