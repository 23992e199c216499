"""The erasure job is the one function that deletes data-bucket objects, and only where it erases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_synthesis import Synthesized
from shelfwise.privacy import erasure_deny_list, erasure_job
from shelfwise_infra import spec

pytestmark = pytest.mark.infra

ERASURE = spec.function("erasure")


def role_statements(synthesized: Synthesized, fn: spec.Function) -> list[dict[str, Any]]:
    """Every statement the function's role gets, including what CDK moves into overflow managed policies."""
    role = {"Ref": synthesized.logical_id(synthesized.stack.functions.roles[fn.name])}
    statements = []
    for resource in synthesized.resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and role in properties.get(
            "Roles", []
        ):
            statements.extend(properties["PolicyDocument"]["Statement"])
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def object_keys(statement: dict[str, Any]) -> set[str]:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return {resource["Fn::Join"][1][-1].lstrip("/") for resource in resources if "Fn::Join" in resource}


def test_only_the_erasure_job_deletes_and_only_under_the_prefixes_it_erases(synthesized: Synthesized) -> None:
    assert [fn.name for fn in spec.FUNCTIONS if fn.bucket_deletes] == [ERASURE.name]
    statements = role_statements(synthesized, ERASURE)
    expected = {f"{key}*" for key in ERASURE.bucket_deletes}
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion"):
        granted = {key for s in statements if action in actions_of(s) for key in object_keys(s)}
        assert granted == expected, action
    # What the job rewrites or deletes, and nothing else: never the whole bucket, never the curated catalog.
    assert set(ERASURE.bucket_deletes) == set(erasure_job.ERASED_PREFIXES)
    assert not any(key in {"", spec.CURATED_PREFIX, spec.INCOMING_PREFIX} for key in ERASURE.bucket_deletes)
    for fn in spec.FUNCTIONS:
        if fn is not ERASURE:
            actions = json.dumps([actions_of(s) for s in role_statements(synthesized, fn)])
            assert "s3:Delete" not in actions and "s3:ListBucketVersions" not in actions, fn.name


def test_the_erasure_job_lists_versions_on_the_bucket_and_never_deletes_it(synthesized: Synthesized) -> None:
    statements = role_statements(synthesized, ERASURE)
    actions = json.dumps([actions_of(s) for s in statements])
    assert "s3:DeleteBucket" not in actions and '"s3:*"' not in actions
    (listing,) = [s for s in statements if "s3:ListBucketVersions" in actions_of(s)]
    bucket_id = synthesized.logical_id(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    assert listing["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}


def test_the_deny_list_is_where_the_training_job_and_the_erasure_job_meet() -> None:
    recommender = spec.training_job("recommender")
    assert recommender.channels["erased_customers"] == erasure_deny_list.DENY_LIST_PREFIX
    assert spec.ERASED_CUSTOMERS_PREFIX == erasure_deny_list.DENY_LIST_PREFIX
    assert erasure_deny_list.DENY_LIST_PREFIX in ERASURE.bucket_writes
    assert spec.schedule("erase-customers").target == ("function", ERASURE.name)


def test_one_erasure_run_at_a_time(synthesized: Synthesized) -> None:
    function = synthesized.resource(synthesized.stack.functions.functions[ERASURE.name])
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1
