"""Pseudonymized customer ids in the CDK app: the key, who may read it, and the vault of customer ids."""

from __future__ import annotations

import json

import pytest
from cdk_synthesis import Synthesized
from shelfwise import settings
from shelfwise_infra import spec
from test_stack import allowed_actions_on, statements_of

pytestmark = pytest.mark.infra

# The functions that turn a retailer's customer id into its pseudonym: at the edges where ids come in.
PSEUDONYMIZING = {"ingest", "recommendations", "chat", "segments_api", "customers"}
# The erasure work (docs/privacy.md) pseudonymizes the id it is asked to erase and forgets it in the vault.
ERASURE = {"customer_erasure", "erasure"}
# The vault of customer ids (pseudonym -> retailer's id): ingestion writes it, erasure deletes from it.
VAULT_WRITERS = {"ingest"}
# ... and read only where an answer must carry the retailer's id (the CRM export) or says whether it is kept.
VAULT_READERS = {"segments", "customers"}


def key_readers() -> set[str]:
    return {fn.name for fn in spec.FUNCTIONS if spec.PSEUDONYM_KEY_SECRET.id in fn.secrets}


def test_the_pseudonym_key_is_generated_retained_and_never_rotated_automatically(
    synthesized: Synthesized,
) -> None:
    key = synthesized.stack.keys.secrets[spec.PSEUDONYM_KEY_SECRET.id]
    resource = synthesized.resource(key)
    generated = resource["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] == 64
    assert generated["ExcludePunctuation"] is True and generated["IncludeSpace"] is False
    # A deleted stack must not take the key along: every stored pseudonym depends on it.
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    synthesized.template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)


def test_only_the_functions_that_pseudonymize_may_read_the_key_and_know_where_it_is(
    synthesized: Synthesized,
) -> None:
    key_id = synthesized.logical_id(synthesized.stack.keys.secrets[spec.PSEUDONYM_KEY_SECRET.id])
    readers = key_readers()
    assert PSEUDONYMIZING <= readers <= PSEUDONYMIZING | ERASURE
    for fn in spec.FUNCTIONS:
        statements = statements_of(synthesized, fn)
        on_key = [statement for statement in statements if key_id in json.dumps(statement["Resource"])]
        variables = synthesized.resource(synthesized.stack.functions.functions[fn.name])["Properties"][
            "Environment"
        ]["Variables"]
        if fn.name in readers:
            assert on_key == [
                {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": {"Ref": key_id}}
            ], fn.name
            assert variables[settings.PSEUDONYM_KEY_SECRET_ARN_ENV] == {"Ref": key_id}
        else:
            assert on_key == [], fn.name
            assert settings.PSEUDONYM_KEY_SECRET_ARN_ENV not in variables, fn.name
        # Nobody gets more than reading a secret's value (no DescribeSecret, no wildcards).
        for statement in statements:
            if "secretsmanager" in json.dumps(statement["Action"]):
                assert statement["Action"] == "secretsmanager:GetSecretValue", fn.name


def test_the_training_jobs_never_see_the_key(synthesized: Synthesized) -> None:
    key_id = synthesized.logical_id(synthesized.stack.keys.secrets[spec.PSEUDONYM_KEY_SECRET.id])
    roles = synthesized.template.find_resources("AWS::IAM::Policy")
    function_roles = {synthesized.logical_id(role) for role in synthesized.stack.functions.roles.values()}
    for policy in roles.values():
        if any(ref.get("Ref") in function_roles for ref in policy["Properties"]["Roles"]):
            continue
        assert key_id not in json.dumps(policy["Properties"]["PolicyDocument"])


def test_the_vault_of_customer_ids_is_written_by_ingestion_and_read_only_where_ids_go_out(
    synthesized: Synthesized,
) -> None:
    vault_id = synthesized.logical_id(synthesized.stack.storage.tables[spec.CUSTOMER_IDS_TABLE.id])
    properties = synthesized.resource(synthesized.stack.storage.tables[spec.CUSTOMER_IDS_TABLE.id])[
        "Properties"
    ]
    assert properties["KeySchema"] == [{"AttributeName": "pseudonym", "KeyType": "HASH"}]
    for fn in spec.FUNCTIONS:
        actions = allowed_actions_on(statements_of(synthesized, fn), vault_id)
        if fn.name in ERASURE:
            continue
        assert ("dynamodb:PutItem" in actions) == (fn.name in VAULT_WRITERS), fn.name
        assert ("dynamodb:GetItem" in actions) == (fn.name in VAULT_WRITERS | VAULT_READERS), fn.name


def test_the_right_of_access_is_an_operations_route_with_only_read_grants() -> None:
    (route,) = [route for route in spec.ROUTES if route.function == "customers"]
    assert (route.method, route.path, route.access, route.scope) == (
        "GET",
        "/v1/customers/{user_id}/data",
        "operations",
        spec.READ_SCOPE,
    )
    customers = spec.function("customers")
    assert customers.writes == () and customers.bucket_writes == () and not customers.publishes_events
    assert set(customers.bucket_reads) == {"curated/interactions/", "models/recommender/"}


def test_sibling_path_variables_share_one_name() -> None:
    """API Gateway refuses two different variable names at one level of the resource tree."""
    names: dict[str, str] = {}
    for route in spec.ROUTES:
        parts = route.path.strip("/").split("/")
        for depth, part in enumerate(parts):
            if part.startswith("{"):
                parent = "/".join(parts[:depth])
                assert names.setdefault(parent, part) == part, (route.path, names[parent])
