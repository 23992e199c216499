"""The reconciler in AWS: its schedule, and alarms on re-driven files and on files still stuck after one."""

from __future__ import annotations

import pytest
from cdk_synthesis import Synthesized
from shelfwise_infra import spec

pytestmark = pytest.mark.infra


def test_reconcile_runs_on_a_schedule_and_alarms_on_redriven_and_still_stuck_files(
    synthesized: Synthesized,
) -> None:
    schedule = spec.schedule("reconcile-ingest")
    assert schedule.target == ("function", "reconcile")
    # Files younger than a message's visibility timeout may still be on their way; they are left alone.
    assert schedule.detail["older_than_seconds"] == str(spec.INGEST_QUEUE.visibility_timeout_seconds)
    for metric in ("FilesRedriven", "FilesStillStuck"):
        synthesized.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": metric,
                "Namespace": "shelfwise",
                "Dimensions": [{"Name": "service", "Value": "shelfwise-reconcile"}],
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            },
        )
