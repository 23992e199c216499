# ruff: noqa: RUF001 - Chinese test messages use full-width punctuation on purpose
"""Small training sets and a tiny trained chat model shared by the chat tests (holds no tests itself)."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from pathlib import Path
from types import ModuleType

from chat_training import job as chat_job

REPO = Path(__file__).resolve().parents[2]
BITEXT = REPO / "data/chat/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
INTENTS = (
    "cancel_order",
    "complaint",
    "contact_human_agent",
    "delivery_options",
    "get_refund",
    "track_order",
)

POSITIVE = [
    "great service, thank you so much",
    "I love this shop, fast delivery",
    "excellent quality, very happy",
    "thanks, that was really helpful",
    "wonderful experience, highly recommend",
    "perfect, exactly what I wanted",
    "质量很好，非常满意",
    "物流很快，服务很好，好评",
    "东西不错，很喜欢",
    "客服态度很好，谢谢",
]
NEGATIVE = [
    "this is terrible, I am very angry",
    "worst service ever, totally useless",
    "awful experience, I hate this",
    "the product arrived broken and nobody helps",
    "I am furious, this is a scam",
    "horrible support, very disappointed",
    "质量太差了，非常失望",
    "物流太慢，差评",
    "客服态度很差，再也不买了",
    "东西是坏的，太糟糕了",
]
NEUTRAL = [
    "what time do you open",
    "where is my parcel",
    "how do I change my address",
    "can I pay by bank transfer",
    "do you ship to Canada",
    "I need the invoice for last month",
    "请问什么时候发货",
    "怎么修改收货地址",
    "可以开发票吗",
    "我想查询订单",
]


def load_train_module() -> ModuleType:
    """The chat training job (`training/chat/train.py` runs its `main`)."""
    return chat_job


def write_intents(path: Path, per_intent: int = 25) -> Path:
    taken: dict[str, int] = defaultdict(int)
    with (
        gzip.open(BITEXT, "rt", encoding="utf-8") as source,
        open(path, "w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(["text", "intent"])
        for row in csv.DictReader(source):
            if row["intent"] in INTENTS and taken[row["intent"]] < per_intent:
                taken[row["intent"]] += 1
                writer.writerow([row["instruction"], row["intent"]])
    return path


def write_sentiment(path: Path, copies: int = 3) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "sentiment"])
        for _ in range(copies):
            for label, texts in (("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL)):
                for text in texts:
                    writer.writerow([text, label])
    return path
