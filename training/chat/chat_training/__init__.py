"""Training library for the chat triage models (intent and sentiment classifiers exported to ONNX)."""
