"""Synthesizes the CDK app once per test module, offline: asset bundling is skipped."""

from __future__ import annotations

import pytest
from cdk_synthesis import Synthesized, functions_with_placeholders, synthesize


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    root = tmp_path_factory.mktemp("cdk")
    with functions_with_placeholders(root):
        return synthesize(root / "cdk.out")
