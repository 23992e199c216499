"""Training library for shelfwise's recommender: weighting, retrieval models, evaluation and ONNX export.

Installed with the repository (`pip install -e .`, declared in pyproject.toml). The job is `job.main`; the
container's entrypoint `training/recommender/train.py` sizes the thread pools and calls it.
"""
