"""The shipped sentence encoder (all-MiniLM-L6-v2, int8 ONNX) and the linear heads on its embeddings.

The encoder folder is built by training/chat/chat_training/encoder_build.py: `encoder.onnx` (transformer,
mean pooling and L2 normalisation in one graph), `tokenizer.json` (truncation included), `LICENSE`,
`NOTICE`, `encoder.json`. Nothing is downloaded: the tokenizer and the graph are read from the folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
DIMENSION = 384


def session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    # One thread: a Lambda has little CPU per request; inter-op threads only add latency here.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class SentenceEncoder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.session = ort.InferenceSession(
            str(directory / ENCODER_FILE), session_options(), providers=["CPUExecutionProvider"]
        )
        self.dimension = DIMENSION

    def embed(self, text: str) -> np.ndarray:
        """One message's unit-length embedding (384 floats). Training embeds one message at a time too:
        in a padded batch the dynamic int8 activation scales differ, and so would the embeddings."""
        encoding = self.tokenizer.encode(text)
        feeds = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
        }
        (embedding,) = self.session.run(None, feeds)
        return embedding[0]


class EmbeddingHead:
    """Softmax(W·e + b) over an embedding, as an ONNX graph (`embedding` [384] → `probabilities`)."""

    def __init__(self, path: Path) -> None:
        self.session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])

    def probabilities(self, embedding: np.ndarray) -> np.ndarray:
        (probabilities,) = self.session.run(None, {"embedding": embedding.astype(np.float32, copy=False)})
        return probabilities


def _is_latin_letter(character: str) -> bool:
    return character.isascii() or "\u00c0" <= character <= "\u024f"


def reads_as_english(text: str) -> bool:
    """The language check that routes a message: the encoder was trained on English, so messages written
    mostly in other scripts (Chinese, above all) stay on the character n-gram model alone. A message with
    no letters at all (digits, emoji) has nothing the encoder adds either."""
    letters = [character for character in text if character.isalpha()]
    if not letters:
        return False
    latin = sum(1 for character in letters if _is_latin_letter(character))
    return latin * 2 > len(letters)
