"""Synthesizes the CDK app once per test module, offline: asset bundling is skipped."""

from __future__ import annotations

import pytest
from cdk_synthesis import Synthesized, synthesize


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))
