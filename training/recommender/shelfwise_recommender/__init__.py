"""Training library for shelfwise's recommender: weighting, retrieval models, evaluation and ONNX export.

The package is plain Python (numpy, scipy, pandas, onnx). The entrypoint `training/recommender/train.py` wires
it to the SageMaker training-container contract; tests and benchmarks put `training/recommender` on sys.path.
"""
