"""Optional fine-tuning of the sentence encoder on the retailer's own labelled messages (PyTorch).

The frozen encoder knows English; it does not know that "@united thanks for nothing" is angry. Fine-tuning
all-MiniLM-L6-v2 for a couple of epochs on the retailer's messages teaches it that. Serving runs one encoder
pass per message for both heads, so the encoder is fine-tuned on every classifier that gets an embedding head
at once (multi-task: one temporary linear layer per task on the normalised embedding, batches drawn from one
task at a time, in shuffled order), then exported and quantized exactly as the shipped encoder is
(encoder_build.py) and shipped inside the version. The heads and the blend are then fitted on its embeddings
as they are on the frozen encoder's.

What fine-tuning may see is decided by the caller: only the rows the blend fits on, never the blend's
validation rows nor the held-out rows the gate metrics come from (blend.blend_splits).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chat_training.encoder_build import MAX_TOKENS, TOKENIZER_FILE, reference_module

BATCH_SIZE = 32
LEARNING_RATE = 5e-5
# The temporary heads start from random weights; at the encoder's rate they stay near-random for most of an
# epoch while their gradients push the encoder around. Chosen on the job's validation rows (banking77 +
# airline, 2 epochs: intent 0.932 vs 0.928 at 5e-5, sentiment 0.845 vs 0.848; frozen 0.928 / 0.834).
HEAD_LEARNING_RATE = 2e-3
WEIGHT_DECAY = 0.01
WARMUP_SHARE = 0.1
# The encoder's output has unit length; logits need a scale a linear layer with small initial weights can
# reach, or training spends its first epoch learning only the scale.
LOGIT_SCALE = 20.0
# Neighbouring lengths share a batch so little of it is padding (short banking questions beside long tweets
# would otherwise cost the tweets' length); the pool is shuffled before it is sorted, per epoch.
LENGTH_POOL = 50 * BATCH_SIZE
# Warm start (off in the job): the temporary heads start as a regression (this C) on the frozen embeddings.
# On the job's validation rows (airline tweets, 2 epochs) it changed little: the blend with the fine-tuned
# head 0.854 vs 0.851 from random heads, with the regression head 0.845 vs 0.849; with the encoder at 2e-5
# as well, 0.846. It costs a frozen pass over every row, so the job starts from random heads.
WARM_START_C = 8.0


@dataclass(frozen=True)
class Task:
    """One classifier's training rows for fine-tuning."""

    name: str
    texts: Sequence[str]
    labels: Sequence[str]


@dataclass(frozen=True)
class FineTuned:
    module: object  # torch.nn.Module: BERT + mean pooling + L2 norm, as encoder_build.reference_module
    summary: dict[str, object]
    # Per task, the temporary head as (coef, intercept) on the unit-length embedding (classes sorted).
    heads: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def _batches(lengths: list[int], rng: random.Random) -> list[list[int]]:
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), LENGTH_POOL):
        pool = sorted(order[start : start + LENGTH_POOL], key=lambda row: lengths[row])
        batches.extend(pool[offset : offset + BATCH_SIZE] for offset in range(0, len(pool), BATCH_SIZE))
    return batches


def torch_threads() -> int:
    """PyTorch threads for fine-tuning: OMP_NUM_THREADS when the environment sets it (a shared machine keeps
    cores free that way), else 2."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else 2


def _padded(torch, encodings, rows: list[int]):
    width = max(len(encodings[row].ids) for row in rows)

    def padded(name: str):
        return torch.tensor(
            [getattr(encodings[row], name) + [0] * (width - len(encodings[row].ids)) for row in rows]
        )

    return padded("ids"), padded("attention_mask"), padded("type_ids")


def _embed(encoder, encodings) -> np.ndarray:
    """The module's embeddings of `encodings` (eval mode, no gradients), in batches of similar length."""
    import torch

    encoder.eval()
    order = sorted(range(len(encodings)), key=lambda row: len(encodings[row].ids))
    result = np.zeros((len(encodings), encoder.bert.config.hidden_size), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(order), 4 * BATCH_SIZE):
            rows = order[start : start + 4 * BATCH_SIZE]
            result[rows] = encoder(*_padded(torch, encodings, rows)).numpy()
    return result


def _frozen_head(embeddings: np.ndarray, labels: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logistic-regression weights (classes x dimension, sorted class order) on unit-length embeddings."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=WARM_START_C, max_iter=2000, random_state=seed)
    model.fit(embeddings, list(labels))
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(model.classes_) == 2:
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def fine_tune(
    source: Path,
    tasks: Sequence[Task],
    *,
    epochs: int,
    seed: int,
    threads: int | None = None,
    learning_rate: float = LEARNING_RATE,
    warm_start: bool = False,
    progress: Callable[[str], None] = print,
) -> FineTuned:
    """The encoder in `source` (a sentence-transformers folder) fine-tuned on `tasks` for `epochs` epochs.
    With `warm_start`, each temporary head starts as a logistic regression fitted on the frozen encoder's
    embeddings of its task's rows, instead of from random weights."""
    import torch
    from tokenizers import Tokenizer

    threads = threads or torch_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = Tokenizer.from_file(str(source / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    encoder = reference_module(source)
    encoder.train()
    encoded = [tokenizer.encode_batch(list(task.texts)) for task in tasks]
    classes = [sorted(set(task.labels)) for task in tasks]
    targets = [
        torch.tensor([names.index(label) for label in task.labels])
        for task, names in zip(tasks, classes, strict=True)
    ]
    heads = torch.nn.ModuleList(
        torch.nn.Linear(encoder.bert.config.hidden_size, len(names)) for names in classes
    )
    if warm_start:
        for head, encodings, task in zip(heads, encoded, tasks, strict=True):
            frozen = _embed(encoder, encodings)
            coef, intercept = _frozen_head(frozen, task.labels, seed)
            with torch.no_grad():
                # The head sees the embedding times LOGIT_SCALE; the regression saw it unscaled.
                head.weight.copy_(torch.from_numpy(coef / LOGIT_SCALE).float())
                head.bias.copy_(torch.from_numpy(intercept).float())
        encoder.train()
    optimizer = torch.optim.AdamW(
        [{"params": encoder.parameters()}, {"params": heads.parameters(), "lr": HEAD_LEARNING_RATE}],
        lr=learning_rate,
        weight_decay=WEIGHT_DECAY,
    )
    steps_per_epoch = sum(-(-len(task.texts) // BATCH_SIZE) for task in tasks)
    total = max(1, epochs * steps_per_epoch)
    warmup = max(1, int(WARMUP_SHARE * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )

    def tensors(encodings, rows: list[int]):
        return _padded(torch, encodings, rows)

    progress(
        f"  fine-tuning the encoder: {', '.join(f'{task.name} {len(task.texts)} rows' for task in tasks)}, "
        f"{epochs} epochs of {steps_per_epoch} batches, {threads} threads"
    )
    started = time.perf_counter()
    step = 0
    losses: list[float] = []
    for _ in range(epochs):
        plan = [
            (index, rows)
            for index, encodings in enumerate(encoded)
            for rows in _batches([len(item.ids) for item in encodings], rng)
        ]
        rng.shuffle(plan)
        epoch_losses: list[float] = []
        for index, rows in plan:
            embeddings = encoder(*tensors(encoded[index], rows))
            loss = torch.nn.functional.cross_entropy(
                heads[index](embeddings * LOGIT_SCALE), targets[index][rows]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            epoch_losses.append(float(loss.item()))
            if step % 100 == 0:
                elapsed = time.perf_counter() - started
                progress(
                    f"  fine-tuning step {step}/{total}, loss {np.mean(epoch_losses[-100:]):.3f}, "
                    f"{elapsed:.0f} s, about {elapsed / step * (total - step):.0f} s to go"
                )
        losses.append(round(float(np.mean(epoch_losses)), 4))
    encoder.eval()
    seconds = time.perf_counter() - started
    progress(f"  fine-tuned in {seconds:.0f} s (mean loss by epoch: {losses})")
    summary = {
        "epochs": epochs,
        "tasks": {task.name: len(task.texts) for task in tasks},
        "batch_size": BATCH_SIZE,
        "learning_rate": learning_rate,
        "warm_start": warm_start,
        "head_learning_rate": HEAD_LEARNING_RATE,
        "loss_by_epoch": losses,
        "seed": seed,
        "threads": threads,
        "seconds": round(seconds, 1),
    }
    final_heads = [
        (
            head.weight.detach().numpy().astype(np.float64) * LOGIT_SCALE,
            head.bias.detach().numpy().astype(np.float64),
        )
        for head in heads
    ]
    return FineTuned(module=encoder, summary=summary, heads=final_heads)


def agreement(module, encoder_dir: Path, texts: Sequence[str]) -> float:
    """The lowest cosine between the exported encoder's embeddings (as serving computes them) and the
    PyTorch module's, over `texts`."""
    import torch
    from shelfwise.chat.encoder import SentenceEncoder

    exported = SentenceEncoder(encoder_dir)
    lowest = 1.0
    with torch.no_grad():
        for text in texts:
            encoding = exported.tokenizer.encode(text)
            reference = module(
                *(torch.tensor([getattr(encoding, name)]) for name in ("ids", "attention_mask", "type_ids"))
            )[0].numpy()
            lowest = min(lowest, float(np.dot(reference, exported.embed(text))))
    return lowest
