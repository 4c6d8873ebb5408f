"""The torch-free runtime: ONNX Runtime sessions, accuracy and latency. Never imports torch."""
