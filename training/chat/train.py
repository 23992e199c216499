"""Entrypoint of the chat triage training container (SageMaker runs it as `train.py train`).

The job itself is `chat_training.job`, installed with the repository (`pip install -e .`); see there for its
channels, outputs and flags.
"""

from __future__ import annotations

import sys

from chat_training.job import main

if __name__ == "__main__":
    sys.exit(main())
