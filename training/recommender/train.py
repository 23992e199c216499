"""Entrypoint of the recommender training container (SageMaker runs it as `train.py train`).

The job itself is `shelfwise_recommender.job`, installed with the repository (`pip install -e .`); see there
for its inputs, outputs and flags.
"""

from __future__ import annotations

import sys

from shelfwise_recommender.threads import limit_threads

if __name__ == "__main__":
    # Before numpy, scipy or torch load: their thread pools are sized once, when the library starts
    # (shelfwise_recommender/threads.py says why BLAS runs on one thread).
    limit_threads()

    from shelfwise_recommender.job import main

    sys.exit(main())
