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

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[1]

DEFAULT_MODEL = REPO / "functions" / "chat" / "default_model"
DOCS = REPO / "docs" / "benchmarks.md"
SEED = 42
# Epochs of the fine-tuned run beside the frozen one (the job's --fine-tune-epochs).
FINE_TUNE_EPOCHS = 2
BLEND_KEYS = (
    "ngram_weight",
    "head_c",
    "head",
    "head_validation_accuracy",
    "blend_validation_accuracy",
    "fit_seconds",
    "nb_weight",
)


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


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
    intents: Path | str,
    sentiment: Path | str,
    model_dir: Path,
    version: str,
    *,
    default_corpora: bool = True,
    extra: list[str] | None = None,
) -> Path:
    from chat_training.job import main as train_main

    # --default-corpora: a channel without data is retrained on the shipped corpus instead of being copied
    # from the shipped model; without it, that part is the shipped model's classifier unchanged.
    args = ["--intents", str(intents), "--sentiment", str(sentiment), "--model-dir", str(model_dir),
            *(["--default-corpora"] if default_corpora else []), *(extra or [])]  # fmt: skip
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


def _predict(model, part: str, texts: list[str], allowed: list[str] | None = None) -> list[str]:
    """Labels as triage computes them (redacted text; the n-gram + embedding blend for messages the language
    check sends to the encoder); `allowed` restricts a 3-class model to a 2-class set."""
    from shelfwise.chat.redact import redact

    classifier = getattr(model, part)
    position = 0 if part == "intent" else 1
    predictions = []
    for text in texts:
        probabilities = model.classify(redact(text[:5000]).text)[position][2]
        if allowed is None:
            predictions.append(classifier.labels[int(np.argmax(probabilities))])
        else:
            best = max(allowed, key=lambda label: probabilities[classifier.labels.index(label)])
            predictions.append(best)
    return predictions


def _ngram_only(model):
    """The same version served without the encoder: the n-gram classifiers alone, for the ratios."""
    import copy

    plain = copy.copy(model)
    plain.encoder = None
    return plain


def _latency(model, texts: list[str], baseline=None) -> dict[str, float]:
    """Per-message triage time; with `baseline`, both models alternate message by message, so a load spike
    on this shared machine hits both alike and the ratio stays meaningful."""
    for text in texts[:50]:
        model.triage(text)
        if baseline is not None:
            baseline.triage(text)
    durations = []
    baseline_durations = []
    for text in texts:
        started = time.perf_counter()
        model.triage(text)
        durations.append((time.perf_counter() - started) * 1000)
        if baseline is not None:
            started = time.perf_counter()
            baseline.triage(text)
            baseline_durations.append((time.perf_counter() - started) * 1000)
    ordered = sorted(durations)
    result = {
        "messages": len(durations),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
        "mean_chars": round(sum(len(text) for text in texts) / len(texts), 1),
    }
    if baseline_durations:
        base = sorted(baseline_durations)
        base_p50 = statistics.median(base)
        base_p99 = base[int(0.99 * (len(base) - 1))]
        result.update(
            ngram_p50_ms=round(base_p50, 3),
            ngram_p99_ms=round(base_p99, 3),
            p50_ratio=round(result["p50_ms"] / base_p50, 2),
            p99_ratio=round(result["p99_ms"] / base_p99, 2),
        )
    return result


def _cold_start(model_dir: Path, runs: int = 3, ngram_only: bool = False) -> float:
    """Fresh interpreter: import, load the model, triage one message (interpreter start excluded)."""
    code = (
        "import time; t=time.perf_counter(); from shelfwise.chat.model import ChatModel; "
        f"m=ChatModel.load({str(model_dir)!r}); "
        + ("m.encoder=None; " if ngram_only else "")
        + "m.triage('where is my order 12345?'); "
        "print(time.perf_counter()-t)"
    )
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO / "layers" / "domain" / "python"),
        "OMP_NUM_THREADS": "1",
    }
    timings = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
        timings.append(float(output.stdout.strip()))
    return round(statistics.median(timings), 3)


def _size_mb(model_dir: Path) -> float:
    return round(sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file()) / 1e6, 2)


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


def _regression(model) -> dict[str, object]:
    from chat_training.regression import evaluate_regression

    result = evaluate_regression(model)
    print(f"[bench] regression set: { {k: v for k, v in result.items() if k != 'misses'} }", flush=True)
    return result


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
            **_scores(truth, _predict(model, "intent", texts)),
            "test_examples": len(truth),
        }
    print(f"[bench] intents: {results}", flush=True)
    results["measured_intents"] = _today()
    return results


def run_intents_only(work: Path) -> dict[str, object]:
    """Only the shipped intent corpora (no evaluation sets needed): sentiment stays the shipped model's."""
    from shelfwise.chat.model import ChatModel

    intents_train, tests = _intent_split(work)
    model = ChatModel.load(
        _train(intents_train, work / "no-sentiment-channel", work, "intents", default_corpora=False)
    )
    return _intent_results(model, tests)


def run(data_dir: Path, work: Path, fine_tune_epochs: int = FINE_TUNE_EPOCHS) -> dict[str, object]:
    results: dict[str, object] = {}
    banking = data_dir / "banking77"
    air_train_x, air_test_x, air_train_y, air_test_y = _airline_split(data_dir)
    banking_test = _read_csv(banking / "test.csv")
    results.update(
        run_retrain(banking, (air_train_x, air_train_y), (air_test_x, air_test_y), work, fine_tune_epochs)
    )
    chinese_results = run_chinese(data_dir, work)
    results.update(chinese_results)
    results["nb_weights"] = {
        "banking77": results["blend"]["intent"]["nb_weight"],  # type: ignore[index]
        "airline": results["blend"]["sentiment"]["nb_weight"],  # type: ignore[index]
        **chinese_results["nb_weights"],  # type: ignore[dict-item]
    }
    _, _, chinese_test = _test_splits(data_dir)
    results.update(run_default(data_dir, banking_test, (air_test_x, air_test_y), chinese_test))
    return results


def run_chinese(data_dir: Path, work: Path) -> dict[str, object]:
    """Chinese shopping sentiment retrained (80/20) in one job with the shipped bitext + Chinese intents
    (their training parts), which gives the intent rows too."""
    from shelfwise.chat.model import ChatModel

    print(
        "[bench] retraining: shipped bitext + Chinese intents (training parts) + chinese shopping sentiment"
    )
    zh_train_x, zh_test_x, zh_train_y, zh_test_y = _chinese_split(data_dir)
    chinese_train = _write_split(work / "chinese_train.csv", zh_train_x, zh_train_y, "sentiment")
    intents_train, intent_tests = _intent_split(work)
    chinese_dir = _train(intents_train, chinese_train, work, "bitext-chinese")
    chinese_model = ChatModel.load(chinese_dir)
    results: dict[str, object] = {
        "chinese_retrained": _scores(zh_test_y, _predict(chinese_model, "sentiment", zh_test_x))
    }
    chinese_metrics = json.loads((chinese_dir / "metrics.json").read_text())
    results.update(_intent_results(chinese_model, intent_tests))
    results["nb_weights"] = {
        "bitext": chinese_metrics["intent"].get("nb_weight"),
        "chinese": chinese_metrics["sentiment"].get("nb_weight"),
    }
    print(f"[bench] chinese sentiment {results['chinese_retrained']}", flush=True)
    return results


def run_retrain(
    banking: Path,
    airline_train: tuple[list[str], list[str]],
    airline_test: tuple[list[str], list[str]],
    work: Path,
    fine_tune_epochs: int = FINE_TUNE_EPOCHS,
) -> dict[str, object]:
    """Banking77 intents + airline sentiment through the job: with the frozen encoder (the job's default),
    then with the encoder fine-tuned for `fine_tune_epochs` epochs."""
    from shelfwise.chat.model import ChatModel

    train_file = _write_split(work / "airline_train.csv", *airline_train, "sentiment")
    banking_test = _read_csv(banking / "test.csv")
    banking_texts = [row["text"] for row in banking_test]
    banking_truth = [row["category"] for row in banking_test]
    air_test_x, air_test_y = airline_test
    results: dict[str, object] = {"load_average_before": round(os.getloadavg()[0], 2)}
    for label, epochs in (("frozen", 0), ("fine_tuned", fine_tune_epochs)):
        print(f"[bench] retraining: banking77 intents + airline sentiment, {label} encoder", flush=True)
        started = time.perf_counter()
        version = f"banking-airline-{label}"
        extra = ["--fine-tune-epochs", str(epochs)] if epochs else []
        model = ChatModel.load(_train(banking / "train.csv", train_file, work, version, extra=extra))
        job_seconds = round(time.perf_counter() - started, 1)
        metrics = json.loads((work / version / "metrics.json").read_text())
        part = {
            "job_s": job_seconds,
            "banking77": {**_scores(banking_truth, _predict(model, "intent", banking_texts)),
                          "test_examples": len(banking_truth)},
            "banking77_ngram_only": _scores(
                banking_truth, _predict(_ngram_only(model), "intent", banking_texts)),
            "airline_retrained": _scores(air_test_y, _predict(model, "sentiment", air_test_x)),
            "airline_ngram_only": _scores(air_test_y, _predict(_ngram_only(model), "sentiment", air_test_x)),
            "blend": {
                name: {
                    key: metrics[name].get(key)
                    for key in BLEND_KEYS
                }
                for name in ("intent", "sentiment")
            },
        }  # fmt: skip
        print(
            f"[bench] {label}: banking77 {part['banking77']}, airline {part['airline_retrained']}", flush=True
        )
        if epochs:
            from chat_training.finetune import torch_threads

            part["fine_tune_epochs"] = epochs
            part["torch_threads"] = torch_threads()
            results["fine_tuned"] = part
        else:
            part["banking_airline_job_s"] = part.pop("job_s")
            results.update(part)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    results["measured_retrain"] = _today()
    return results


def run_default(
    data_dir: Path,
    banking_test: list[dict[str, str]],
    airline: tuple[list[str], list[str]],
    chinese: tuple[list[str], list[str]],
) -> dict[str, object]:
    """The shipped default model: sentiment on the test splits, the regression set, latency, cold start."""
    from shelfwise.chat.model import ChatModel

    results: dict[str, object] = {}
    air_test_x, air_test_y = airline
    zh_test_x, zh_test_y = chinese
    default = ChatModel.load(DEFAULT_MODEL)
    results["airline_default"] = _scores(air_test_y, _predict(default, "sentiment", air_test_x))
    results["chinese_default"] = _scores(
        zh_test_y, _predict(default, "sentiment", zh_test_x, allowed=["negative", "positive"])
    )
    results["regression_default"] = _regression(default)
    print(f"[bench] default airline {results['airline_default']}, chinese {results['chinese_default']}")

    rng = np.random.default_rng(SEED)
    sample = [*rng.choice(air_test_x, 700), *rng.choice([row["text"] for row in banking_test], 700),
              *rng.choice(zh_test_x, 600)]  # fmt: skip
    results["latency_default"] = _latency(
        default, [str(text)[:5000] for text in sample], baseline=_ngram_only(default)
    )
    results["cold_start_s"] = _cold_start(DEFAULT_MODEL)
    results["cold_start_ngram_only_s"] = _cold_start(DEFAULT_MODEL, ngram_only=True)
    results["default_size_mb"] = _size_mb(DEFAULT_MODEL)
    results["default_version"] = default.version
    results["measured_default"] = _today()
    print(f"[bench] latency {results['latency_default']}, cold start {results['cold_start_s']} s", flush=True)
    return results


def _airline_split(data_dir: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    """(train texts, test texts, train labels, test labels): 80/20 stratified, seed 42."""
    airline_rows = _read_csv(data_dir / "twitter-us-airline-sentiment" / "Tweets.csv")
    return _split([row["text"] for row in airline_rows], [row["airline_sentiment"] for row in airline_rows])


def _chinese_split(data_dir: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    chinese_file = data_dir / "chinese-online-shopping-10cats" / "online_shopping_10_cats.csv"
    chinese_rows = [row for row in _read_csv(chinese_file) if row["review"] and row["review"].strip()]
    zh_labels = ["positive" if row["label"] == "1" else "negative" for row in chinese_rows]
    return _split([row["review"] for row in chinese_rows], zh_labels)


def _test_splits(data_dir: Path):
    _, air_test_x, _, air_test_y = _airline_split(data_dir)
    _, zh_test_x, _, zh_test_y = _chinese_split(data_dir)
    banking_test = _read_csv(data_dir / "banking77" / "test.csv")
    return banking_test, (air_test_x, air_test_y), (zh_test_x, zh_test_y)


def render(results: dict[str, object], command: str) -> str:
    from chat_training.corpora import chinese_intents

    r = results

    def pct(key: str, metric: str = "accuracy") -> str:
        return f"{100 * r[key][metric]:.1f}%"  # type: ignore[index]

    tuned = r.get("fine_tuned") or {}
    assert isinstance(tuned, dict)
    epochs = tuned.get("fine_tune_epochs", FINE_TUNE_EPOCHS)

    def pct_tuned(key: str) -> str:
        return f"{100 * tuned[key]['accuracy']:.1f}%" if key in tuned else "not measured"

    def head_name(part: dict) -> str:
        return "the fine-tuned head" if part.get("head") == "fine-tuned" else f"head C {part.get('head_c')}"

    tuned_blend = tuned.get("blend") or {}
    threads = tuned.get("torch_threads", 2)
    # Line breaks inside, so the rendered paragraph keeps the width of the rest of the section.
    tuned_choice = (
        f"\nChosen on the same validation rows: banking77 {head_name(tuned_blend['intent'])}, n-gram weight "
        f"{tuned_blend['intent']['ngram_weight']}; airline {head_name(tuned_blend['sentiment'])}, n-gram\n"
        f"weight {tuned_blend['sentiment']['ngram_weight']} (the fine-tuned head is the linear layer trained "
        "with the encoder, a candidate\nbeside the regression heads)."
        if tuned_blend
        else ""
    )
    latency = r["latency_default"]
    assert isinstance(latency, dict)
    regression = r["regression_default"]
    assert isinstance(regression, dict)
    blend = r["blend"]
    assert isinstance(blend, dict)
    examples = r["banking77"]["test_examples"]  # type: ignore[index]
    bitext_examples = r["bitext_intents"]["test_examples"]  # type: ignore[index]
    zh_examples = r["chinese_intents"]["test_examples"]  # type: ignore[index]
    zh_total = len(chinese_intents().texts)
    rows = [
        ("Intent, banking77 (77 classes), blend", f"official test, {examples}", "accuracy", pct("banking77"),
         ">= 93.5%", "frozen MiniLM + LR 93.1%, blend 94.3% (issue's feasibility run)"),
        ("Intent, banking77, n-gram model alone", "same", "accuracy", pct("banking77_ngram_only"), "",
         "TF-IDF + LR 91.3%"),
        ("Intent, banking77, blend", "same", "macro-F1", pct("banking77", "macro_f1"), "", ""),
        (f"Intent, banking77, blend on the encoder fine-tuned {epochs} epochs", "same", "accuracy",
         pct_tuned("banking77"), "", "optional (`fine_tune_epochs`)"),
        ("Intent, bitext (27 classes, shipped data)", f"10% held-out, {bitext_examples}", "accuracy",
         pct("bitext_intents"), ">= 99%", ""),
        ("Intent, Chinese (same 27 classes, project-written; n-gram path)",
         f"20% stratified, seed 42, {zh_examples}", "accuracy", pct("chinese_intents"), "",
         "small, not real traffic"),
        ("Sentiment, airline tweets (3 classes), retrained, blend", "20% stratified, seed 42", "accuracy",
         pct("airline_retrained"), ">= 85%", "blend 83.3%, fine-tuned + TF-IDF 84.7% (issue)"),
        (f"Sentiment, airline tweets, blend on the encoder fine-tuned {epochs} epochs", "same", "accuracy",
         pct_tuned("airline_retrained"), ">= 85%", "fine-tuned 1 epoch + TF-IDF 84.7% (issue)"),
        ("Sentiment, airline tweets, n-gram model alone", "same", "accuracy", pct("airline_ngram_only"), "",
         "TF-IDF 81.5%"),
        ("Sentiment, airline tweets, shipped default", "same", "accuracy", pct("airline_default"), "", ""),
        ("Sentiment, Chinese shopping (2 classes), retrained (n-gram path)", "20% stratified, seed 42",
         "accuracy", pct("chinese_retrained"), ">= 94%", "TF-IDF 93.3%"),
        ("Sentiment, Chinese shopping, shipped default", "same (neutral excluded)", "accuracy",
         pct("chinese_default"), "", ""),
    ]  # fmt: skip
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    targets = {
        "banking77": 0.935,
        "bitext_intents": 0.99,
        "airline_retrained": 0.85,
        "chinese_retrained": 0.94,
    }
    met = [key for key, target in targets.items() if r[key]["accuracy"] >= target]  # type: ignore[index]
    missed = [
        f"{key} ({100 * (target - r[key]['accuracy']):.1f} points short)"  # type: ignore[index]
        for key, target in targets.items()
        if key not in met
    ]
    misses = "\n".join(
        f'  - "{miss["text"]}": expected {miss["expected"]}, got {miss["got"]}'
        for miss in regression["misses"]  # type: ignore[union-attr]
    )
    priority = f"{100 * regression['priority_accuracy']:.1f}%" if regression["priority_accuracy"] else "n/a"
    return f"""## Chat

Command: `{command}` (reads `../shared/data`; 30-45 minutes on the machine below: the two
training jobs embed about 35,000 English messages, and the fine-tuned job adds about 10 minutes;
`--default-only` re-measures just the shipped model, `--retrain-only` just the banking77 + airline jobs,
`--chinese-only` just the Chinese reviews job and the intent rows it trains with).
Machine: {_machine()}. onnxruntime with one intra-op thread.
Measured: banking77 + airline jobs {r.get("measured_retrain", "?")}; bitext and Chinese rows
{r.get("measured_intents", "?")}; the shipped default model's rows, regression set and latency
{r.get("measured_default", "?")}.

Retrained through the training job (`training/chat/train.py`, the job `shelfwise run train-chat` runs) on
the training files, evaluated through the serving class `ChatModel` (`classify`, on redacted text, as
`triage` and `POST /v1/chat/messages` do) on the held-out test sets; the local cloud's HTTP path itself is
not in this benchmark. Each classifier is a blend: the n-gram model (word 1-2-gram + character 1-5-gram
tf-idf, linear SVM + NB-SVM, one ONNX linear layer) averaged with a logistic-regression head on frozen
all-MiniLM-L6-v2 sentence embeddings (int8 ONNX shipped in `functions/chat/default_model/encoder`),
p = w * p_ngram + (1 - w) * p_head; the head's C and w are chosen on a validation split carved from the
training part (15%), never on the test sets. Messages that are not mostly Latin letters (Chinese) use the
n-gram model alone. Chosen n-gram weights: banking77 {blend["intent"]["ngram_weight"]}, airline
{blend["sentiment"]["ngram_weight"]} (head C {blend["intent"]["head_c"]} / {blend["sentiment"]["head_c"]}).
The banking77 + airline job (both channels, 10,003 + 11,712 rows, embedding every English message with
the frozen encoder) took {r["banking_airline_job_s"]} s, of which the banking77 intent part took
{blend["intent"]["fit_seconds"]} s (target <= 300 s; no fine-tuning); one-minute load average
{r.get("load_average_before", "?")} before the two jobs and {r.get("load_average_after", "?")} after them.
With `fine_tune_epochs={epochs}` (a deployment hyperparameter, docs/configuration.md) the job first fine-tunes
the encoder on both channels' fit rows (never the validation or held-out rows), exports and quantizes it as
the shipped one is built, and ships it inside the version; that job took {tuned.get("job_s", "?")} s
(PyTorch on {threads} thread{"" if threads == 1 else "s"}, OMP_NUM_THREADS).{tuned_choice}

| Task | Test set | Metric | Reached | Target | Reference |
| --- | --- | --- | --- | --- | --- |
{table}

Accuracy targets met: {", ".join(met) or "none"}; missed: {", ".join(missed) or "none"} (frozen encoder,
the job's default); airline with the fine-tuned encoder: {pct_tuned("airline_retrained")}.
Intent rows: the training job retrains on Bitext's training part (its 10% held-out rows are the ones the
job's own held-out split picks) plus 80% of the Chinese set, and the result is evaluated through `ChatModel`
on the held-out rows (`--intents-only` measures just these two rows). The Chinese set
(`data/chat/zh_intents`, {zh_total} utterances, 27-30 per intent) is written by the project: small, one
team's phrasing, no real traffic; with {zh_examples} test rows one standard error is about 3 points.
Chinese shopping reviews stay on the n-gram model: no permissively licensed multilingual encoder with clear
provenance was found (see the issue), and the earlier tuning of the n-gram model (vocabulary cap, n-gram
ranges, C, NB weights) kept validation accuracy between 93.6% and 94.0%. What moved it is Chinese word
segmentation in the word view (`han_words`, jieba's dictionary through `rjieba`; the character view keeps
the whole runs): in 5-fold cross-validation on the training part (80%; `python
benchmarks/chat_han_words.py`) it raised accuracy in every fold,
93.74% -> 93.97% on average (+0.10 to +0.48 points), so the job segments sentiment texts by default. On the
Chinese intent utterances (short, project-written) the same check gave 83.45% -> 82.86% (15 folds, 3
better), so intents are not segmented by default (`han_words` hyperparameter, docs/configuration.md).
The shipped default model is built with it too (rebuilt 2026-12-06 with the corpus changes below; the
earlier rebuild with segmentation alone had scored 91.2% instead of 91.0% on the Chinese test rows and 52.5%
instead of 53.2% on the airline tweets, so it had waited).

Default corpora (2026-12-06, `training/chat/chat_training/corpora.py` and `everyday.py`): the sentiment
labeller no longer takes the lexicon's words for ordinary steps of a purchase as opinions ("cancel" made
45% of the cancel-order requests negative, so asking how to cancel was escalated as strongly negative), a
problem report in calm words is taught as negative two times in three (so it stays below the 0.85
strong-negative threshold that angry words reach), and complaint and track_order gain 100 project-written
phrasings each (plain dissatisfaction went to report_fraud or thank_you, "where's my parcel?" to
place_order). The sentiment model's held-out accuracy on its own corpus reads lower (96.1% -> 89.8%) by
construction: a third of the calm problem copies carry the neutral label, and the model answers the
majority. Before -> after on the regression set: intent 82.4% -> 85.6%, escalate decision 83.2% -> 84.0%,
everything right 74.4% -> 78.4%, P1 where required 100% both; airline tweets 53.2% -> 54.3%.

Macro-F1: airline retrained {pct("airline_retrained", "macro_f1")}, default
{pct("airline_default", "macro_f1")}; Chinese retrained {pct("chinese_retrained", "macro_f1")}, default
{pct("chinese_default", "macro_f1")}.

Everyday-messages regression set (`training/chat/regression/everyday_messages.csv`, {regression["messages"]}
project-written messages across the default intents with the expected intent, escalation and, for legal
threats and fraud, priority P1; each a fresh conversation through `triage` on the shipped default model;
never trained on): intent {100 * regression["intent_accuracy"]:.1f}%, escalate decision
{100 * regression["escalation_accuracy"]:.1f}%, P1 where required {priority},
everything right {100 * regression["all_correct"]:.1f}%. Misses:
{misses or "  - none"}

Shipped default model `functions/chat/default_model` (version `{r["default_version"]}`):
{r["default_size_mb"]} MB with the encoder.
Full `triage()` (validation, redaction, slots, encoder + intent head + both n-gram models, escalation,
reply) in-process, one thread, {latency["messages"]} messages (tweets, banking questions, Chinese reviews;
mean {latency["mean_chars"]} characters), the n-gram-only model timed on the same messages in the same run,
alternating: p50 {latency["p50_ms"]} ms (n-gram only {latency.get("ngram_p50_ms")} ms, ratio
{latency.get("p50_ratio")}), p99 {latency["p99_ms"]} ms (n-gram only {latency.get("ngram_p99_ms")} ms, ratio
{latency.get("p99_ratio")}); targets p50 <= 8 ms, p99 <= 20 ms. Cold start (fresh process: import, load,
first message; interpreter start excluded), median of 3: {r["cold_start_s"]} s (the same load with the
first message answered without the encoder: {r.get("cold_start_ngram_only_s")} s; target <= 1.5 s).
The default model's sentiment classifier is the n-gram model alone (`--encoder-parts intent`: its corpus
is about 110,000 lexicon-labelled rows), hence its weak airline numbers; a retailer's sentiment file gets
the blend.

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
    parser.add_argument(
        "--default-only",
        action="store_true",
        help="measure only the shipped default model (sentiment on the test splits, regression set, latency, "
        "cold start) and update those numbers in docs/chat_benchmark.json and the docs section",
    )
    parser.add_argument(
        "--retrain-only",
        action="store_true",
        help="measure only the banking77 + airline retraining (frozen and fine-tuned encoder, about 30 "
        "minutes) and update those numbers in docs/chat_benchmark.json and the docs section",
    )
    parser.add_argument(
        "--chinese-only",
        action="store_true",
        help="measure only the Chinese sentiment retraining and the intent rows it trains with (a few "
        "minutes) and update those numbers in docs/chat_benchmark.json and the docs section",
    )
    parser.add_argument("--fine-tune-epochs", type=int, default=FINE_TUNE_EPOCHS)
    args = parser.parse_args(argv)
    if args.chinese_only:
        with tempfile.TemporaryDirectory() as work:
            chinese_results = run_chinese(args.data_dir, Path(work))
        print(json.dumps(chinese_results, indent=1))
        if not args.no_write:
            stored = REPO / "docs" / "chat_benchmark.json"
            results = json.loads(stored.read_text("utf-8"))
            results["nb_weights"].update(chinese_results.pop("nb_weights"))
            results.update(chinese_results)
            stored.write_text(json.dumps(results, indent=1), "utf-8")
            write_section(render(results, "python benchmarks/chat_benchmark.py"))
        return 0
    if args.retrain_only:
        air_train_x, air_test_x, air_train_y, air_test_y = _airline_split(args.data_dir)
        with tempfile.TemporaryDirectory() as work:
            retrain_results = run_retrain(
                args.data_dir / "banking77",
                (air_train_x, air_train_y),
                (air_test_x, air_test_y),
                Path(work),
                args.fine_tune_epochs,
            )
        print(json.dumps(retrain_results, indent=1))
        if not args.no_write:
            stored = REPO / "docs" / "chat_benchmark.json"
            results = {**json.loads(stored.read_text("utf-8")), **retrain_results}
            results["nb_weights"].update(  # type: ignore[union-attr]
                banking77=results["blend"]["intent"]["nb_weight"],  # type: ignore[index]
                airline=results["blend"]["sentiment"]["nb_weight"],  # type: ignore[index]
            )
            stored.write_text(json.dumps(results, indent=1), "utf-8")
            write_section(render(results, "python benchmarks/chat_benchmark.py"))
        return 0
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
    if args.default_only:
        banking_test, airline, chinese = _test_splits(args.data_dir)
        default_results = run_default(args.data_dir, banking_test, airline, chinese)
        print(json.dumps(default_results, indent=1))
        if not args.no_write:
            stored = REPO / "docs" / "chat_benchmark.json"
            results = {**json.loads(stored.read_text("utf-8")), **default_results}
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
        results = run(args.data_dir, Path(work), args.fine_tune_epochs)
    print(json.dumps(results, indent=1))
    if not args.no_write:
        (REPO / "docs" / "chat_benchmark.json").parent.mkdir(exist_ok=True)
        (REPO / "docs" / "chat_benchmark.json").write_text(json.dumps(results, indent=1), "utf-8")
        write_section(render(results, "python benchmarks/chat_benchmark.py"))
        print(f"wrote the Chat section of {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
