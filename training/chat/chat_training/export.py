"""Export of a linear text classifier as an ONNX graph over (feature ids, tf-idf weights).

Graph: Gather(W, ids) → scale rows by weights → sum → + b → Softmax. The input is the sparse tf-idf vector
of one message, so the cost is proportional to the n-grams in the message, not to the vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def linear_head_graph(coef: np.ndarray, intercept: np.ndarray, *, name: str) -> onnx.ModelProto:
    """`coef` is (classes, features) as scikit-learn stores it; the graph gathers rows of its transpose."""
    weight_rows = np.ascontiguousarray(coef.T, dtype=np.float32)
    bias = np.asarray(intercept, dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["W", "ids"], ["rows"], axis=0),
        helper.make_node("Unsqueeze", ["weights", "axis1"], ["weights_column"]),
        helper.make_node("Mul", ["rows", "weights_column"], ["scaled"]),
        helper.make_node("ReduceSum", ["scaled", "axis0"], ["summed"], keepdims=0),
        helper.make_node("Add", ["summed", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        inputs=[
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["n"]),
        ],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [bias.shape[0]])],
        initializer=[
            numpy_helper.from_array(weight_rows, "W"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.asarray([0], dtype=np.int64), "axis0"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="shelfwise"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_linear_head(path: Path, coef: np.ndarray, intercept: np.ndarray, *, name: str) -> None:
    onnx.save(linear_head_graph(coef, intercept, name=name), str(path))


def reference_probabilities(coef: np.ndarray, intercept: np.ndarray, ids: np.ndarray, weights: np.ndarray):
    """The same computation in numpy, used to check the exported graph."""
    logits = (coef[:, ids] * weights[None, :]).sum(axis=1) + intercept
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def embedding_head_graph(coef: np.ndarray, intercept: np.ndarray, *, name: str) -> onnx.ModelProto:
    """Softmax(W·e + b) over one sentence embedding `embedding` [dimension]."""
    weight = np.ascontiguousarray(coef.T, dtype=np.float32)
    bias = np.asarray(intercept, dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["embedding", "W"], ["projected"]),
        helper.make_node("Add", ["projected", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        inputs=[helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [weight.shape[0]])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [bias.shape[0]])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="shelfwise"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_embedding_head(path: Path, coef: np.ndarray, intercept: np.ndarray, *, name: str) -> None:
    onnx.save(embedding_head_graph(coef, intercept, name=name), str(path))
