"""What a deployment may set for the chat training job (`hyperparameters.json`, see
shelfwise.job_hyperparameters); each maps to the train.py flag of the same name (`_` for `-`), and a flag
given on the command line wins."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Comma-separated classifier names, or nothing.
HAN_WORDS_PARTS = r"^\s*((intent|sentiment)\s*(,\s*(intent|sentiment)\s*)*)?$"


class ChatHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Epochs of fine-tuning the sentence encoder on the retailer's messages before the heads are fitted
    # (chat_training/finetune.py); 0 keeps the shipped encoder frozen. About 3 minutes per epoch per
    # 10,000 messages on 2 cores.
    fine_tune_epochs: int | None = Field(default=None, ge=0, le=10)
    # SVM regularisation of the intent and sentiment n-gram models.
    c: float | None = Field(default=None, gt=0)
    sentiment_c: float | None = Field(default=None, gt=0)
    seed: int | None = None
    # Which n-gram classifiers split Chinese text into dictionary words ("sentiment", "intent,sentiment", "").
    han_words: str | None = Field(default=None, pattern=HAN_WORDS_PARTS)

    def as_defaults(self) -> dict[str, Any]:
        """The values that were set, keyed by argparse destination."""
        return self.model_dump(exclude_none=True)
