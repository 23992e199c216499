"""Security in the CDK app: who may call which route, least privilege, and the guard rails around them."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from cdk_synthesis import OFFLINE, Synthesized, functions_with_placeholders, synthesize
from packaging.markers import Marker
from shelfwise import settings, stock
from shelfwise.forecast import layout
from shelfwise.recommend import live_activity
from shelfwise.segments import records
from shelfwise_infra import acknowledgements, spec
from shelfwise_infra.application import build_app
from shelfwise_infra.config import StageConfig, validate
from shelfwise_infra.functions import api_functions, shopper_functions
from shelfwise_infra.layers import LAYERS_DIR, NO_DEPS_REQUIREMENTS, requirement_names
from test_stack import DEFAULTS, statements_of

pytestmark = pytest.mark.infra

ORIGINS = ["https://shop.example.com", "https://www.example.com"]
JWKS_URL = "https://auth.example.com/.well-known/jwks.json"


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A deployment with CORS origins and the retailer's own JWKS for customer tokens."""
    root = tmp_path_factory.mktemp("cdk-configured")
    with functions_with_placeholders(root):
        return synthesize(
            root / "cdk.out",
            {
                "cors_allowed_origins": ORIGINS,
                "customer_token_jwks_url": JWKS_URL,
                "customer_token_issuer": "https://shop.example.com",
                "customer_token_audience": "shelfwise",
            },
        )


def method_of(synthesized: Synthesized, route: spec.Route) -> dict[str, Any]:
    method = synthesized.stack.api.rest_api.root.resource_for_path(route.path).node.find_child(route.method)
    return synthesized.resource(method)["Properties"]


def bucket_statements(synthesized: Synthesized, fn: spec.Function) -> list[dict[str, Any]]:
    bucket_id = synthesized.logical_id(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    return [s for s in statements_of(synthesized, fn) if bucket_id in json.dumps(s["Resource"])]


def object_keys(statement: dict[str, Any]) -> set[str]:
    """`{"Fn::Join": ["", [<bucket arn>, "/models/chat/*"]]}` -> {"models/chat/*"}."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    keys = set()
    for resource in resources:
        if "Fn::Join" in resource:
            keys.add(resource["Fn::Join"][1][-1].lstrip("/"))
    return keys


def granted_keys(synthesized: Synthesized, fn: spec.Function, action: str) -> set[str]:
    return {
        key
        for statement in bucket_statements(synthesized, fn)
        if action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        for key in object_keys(statement)
    }


def as_resources(keys: tuple[str, ...]) -> set[str]:
    return {f"{key}*" if key.endswith("/") else key for key in keys}


# --- who may call which route -------------------------------------------------------------------------------


def test_each_route_gets_the_credential_of_its_audience(synthesized: Synthesized) -> None:
    api = synthesized.stack.api
    shopper_id = synthesized.logical_id(api.shopper_authorizer)
    operator_id = synthesized.logical_id(api.operator_authorizer)
    for route in spec.ROUTES:
        properties = method_of(synthesized, route)
        if route.access == "public":
            assert properties["AuthorizationType"] == "NONE", route
            assert properties["ApiKeyRequired"] is False, route
        elif route.access == "shopper":
            assert properties["AuthorizationType"] == "CUSTOM", route
            assert properties["AuthorizerId"] == {"Ref": shopper_id}, route
            assert properties["ApiKeyRequired"] is True, route
        else:
            assert properties["AuthorizationType"] == "COGNITO_USER_POOLS", route
            assert properties["AuthorizerId"] == {"Ref": operator_id}, route
            assert properties["AuthorizationScopes"] == [route.scope], route
            assert properties["ApiKeyRequired"] is True, route
    assert {route.access for route in spec.ROUTES} == {"public", "shopper", "operations"}


def test_shopper_authorizer_is_the_authorizer_function_cached_per_authorization_header(
    synthesized: Synthesized,
) -> None:
    function_id = synthesized.logical_id(synthesized.stack.functions.functions[spec.AUTHORIZER_FUNCTION])
    properties = synthesized.resource(synthesized.stack.api.shopper_authorizer)["Properties"]
    assert properties["Type"] == "REQUEST"
    # The cache key is exactly the header: one caller's answer is never served to another.
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["AuthorizerResultTtlInSeconds"] == DEFAULTS.authorizer_cache_seconds <= 300
    assert function_id in json.dumps(properties["AuthorizerUri"])
    operator = synthesized.resource(synthesized.stack.api.operator_authorizer)["Properties"]
    assert operator["Type"] == "COGNITO_USER_POOLS"
    assert operator["ProviderARNs"] == [
        {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.identity.user_pool), "Arn"]}
    ]


def test_authorizer_reads_exactly_its_secret_and_knows_the_user_pool(synthesized: Synthesized) -> None:
    identity = synthesized.stack.identity
    authorizer = spec.function(spec.AUTHORIZER_FUNCTION)
    secret_id = synthesized.logical_id(identity.customer_token_secret)
    secret = synthesized.resources[secret_id]["Properties"]["GenerateSecretString"]
    assert secret["PasswordLength"] >= 32 and secret["ExcludePunctuation"] is True
    secret_statements = [
        s for s in statements_of(synthesized, authorizer) if "secretsmanager" in json.dumps(s["Action"])
    ]
    assert secret_statements == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": {"Ref": secret_id}}
    ]
    for fn in spec.FUNCTIONS:
        if fn.name != spec.AUTHORIZER_FUNCTION:
            assert secret_id not in json.dumps(statements_of(synthesized, fn)), fn.name
    variables = synthesized.resource(synthesized.stack.functions.functions[authorizer.name])["Properties"][
        "Environment"
    ]["Variables"]
    pool_id = synthesized.logical_id(identity.user_pool)
    assert variables[settings.CUSTOMER_TOKEN_SECRET_ARN_ENV] == {"Ref": secret_id}
    assert pool_id in json.dumps(variables[settings.OPERATOR_TOKEN_ISSUER_ENV])
    assert json.dumps(variables[settings.OPERATOR_TOKEN_JWKS_URL_ENV]).endswith('/.well-known/jwks.json"]]}')
    assert settings.CUSTOMER_TOKEN_JWKS_URL_ENV not in variables
    assert "tokens" in authorizer.layers


def test_with_the_retailers_jwks_no_secret_is_created_and_issuer_audience_are_passed(
    configured: Synthesized,
) -> None:
    # Only the platform's own keys (tests/infra/test_privacy.py), no customer-token key.
    configured.template.resource_count_is("AWS::SecretsManager::Secret", len(spec.SECRETS))
    variables = configured.resource(configured.stack.functions.functions[spec.AUTHORIZER_FUNCTION])[
        "Properties"
    ]["Environment"]["Variables"]
    assert variables[settings.CUSTOMER_TOKEN_JWKS_URL_ENV] == JWKS_URL
    assert variables[settings.CUSTOMER_TOKEN_ISSUER_ENV] == "https://shop.example.com"
    assert variables[settings.CUSTOMER_TOKEN_AUDIENCE_ENV] == "shelfwise"
    assert settings.CUSTOMER_TOKEN_SECRET_ARN_ENV not in variables
    assert "secretsmanager" not in json.dumps(
        statements_of(configured, spec.function(spec.AUTHORIZER_FUNCTION))
    )
    assert not spec.function(spec.AUTHORIZER_FUNCTION).secrets


def test_operator_pool_is_invite_only_with_mfa_threat_protection_and_the_three_scopes(
    synthesized: Synthesized,
) -> None:
    pool = synthesized.resource(synthesized.stack.identity.user_pool)
    properties = pool["Properties"]
    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert properties["MfaConfiguration"] == "ON"
    assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert properties["UserPoolTier"] == "PLUS"
    assert properties["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"
    assert properties["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["DeletionPolicy"] == "Retain"
    (server,) = synthesized.template.find_resources("AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == "shelfwise"
    assert {f"shelfwise/{s['ScopeName']}" for s in server["Properties"]["Scopes"]} == set(
        spec.OPERATOR_SCOPES
    )
    machine = synthesized.resource(synthesized.stack.identity.machine_client)["Properties"]
    assert machine["AllowedOAuthFlows"] == ["client_credentials"]
    assert machine["GenerateSecret"] is True
    # Scopes are `<resource server identifier>/<name>`; the identifier is the resource server's Ref.
    assert {scope["Fn::Join"][1][-1] for scope in machine["AllowedOAuthScopes"]} == {"/server", "/read"}
    operator = synthesized.resource(synthesized.stack.identity.operator_client)["Properties"]
    assert operator["AllowedOAuthFlows"] == ["code"]
    assert operator.get("GenerateSecret", False) is False
    scopes = {
        scope if isinstance(scope, str) else scope["Fn::Join"][1][-1]
        for scope in operator["AllowedOAuthScopes"]
    }
    assert scopes == {"openid", "email", "/read", "/write"}
    synthesized.template.resource_count_is("AWS::Cognito::UserPoolDomain", 1)


def test_authorizer_refusals_answer_401_and_403_in_the_platform_error_shape(synthesized: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, status, code in (
        ("UNAUTHORIZED", "401", "unauthorized"),
        ("ACCESS_DENIED", "403", "forbidden"),
    ):
        response = responses[response_type]
        assert response["StatusCode"] == status
        template = response["ResponseTemplates"]["application/json"]
        assert (
            template.startswith(f'{{"error": {{"code": "{code}", "message": ') and '"details": []' in template
        )
    assert (
        responses["UNAUTHORIZED"]["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"]
        == "'Bearer'"
    )


# --- CORS ---------------------------------------------------------------------------------------------------


def test_cors_is_off_by_default_and_api_functions_know_no_origin(synthesized: Synthesized) -> None:
    assert not synthesized.template.find_resources(
        "AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "OPTIONS"}}
    )
    for name in api_functions():
        variables = synthesized.resource(synthesized.stack.functions.functions[name])["Properties"][
            "Environment"
        ]["Variables"]
        assert variables[settings.CORS_ALLOWED_ORIGINS_ENV] == "", name


def test_configured_origins_get_a_preflight_on_every_route_and_reach_every_api_function(
    configured: Synthesized,
) -> None:
    api = configured.stack.api.rest_api
    paths = {route.path for route in spec.ROUTES}
    options = configured.template.find_resources(
        "AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "OPTIONS"}}
    )
    assert len(options) == len(paths)
    for path in paths:
        preflight = configured.resource(api.root.resource_for_path(path).node.find_child("OPTIONS"))
        properties = preflight["Properties"]
        assert properties["AuthorizationType"] == "NONE" and properties.get("ApiKeyRequired") in (None, False)
        integration = json.dumps(properties["Integration"])
        assert "'Authorization,Content-Type,X-Api-Key'" in integration
        for origin in ORIGINS:
            assert origin in integration, path
        assert "Access-Control-Allow-Credentials" not in integration
        methods = {route.method for route in spec.ROUTES if route.path == path}
        assert all(method in integration for method in methods)
    for fn in spec.FUNCTIONS:
        variables = configured.resource(configured.stack.functions.functions[fn.name])["Properties"][
            "Environment"
        ]["Variables"]
        if fn.name in api_functions():
            assert variables[settings.CORS_ALLOWED_ORIGINS_ENV] == ",".join(ORIGINS), fn.name
        else:
            assert settings.CORS_ALLOWED_ORIGINS_ENV not in variables, fn.name


@pytest.mark.parametrize(
    "origin", ["*", "http://shop.example.com", "https://shop.example.com/", "https://*.example.com"]
)
def test_origins_that_are_not_exact_https_origins_are_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="cors_allowed_origins"):
        validate(StageConfig(cors_allowed_origins=(origin,)))


# --- least privilege ----------------------------------------------------------------------------------------


def test_each_function_reads_and_writes_only_the_bucket_keys_the_spec_declares(
    synthesized: Synthesized,
) -> None:
    for fn in spec.FUNCTIONS:
        assert granted_keys(synthesized, fn, "s3:GetObject") == as_resources(fn.bucket_reads), fn.name
        assert granted_keys(synthesized, fn, "s3:PutObject") == as_resources(fn.bucket_writes), fn.name
        actions = json.dumps([s["Action"] for s in statements_of(synthesized, fn)])
        # Only the erasure job deletes data-bucket objects (tests/infra/test_erasure_grants.py), and only the
        # keys the spec declares; nothing deletes whole buckets or gets every action.
        assert ("s3:Delete" not in actions or fn.bucket_deletes) and '"s3:*"' not in actions, fn.name
        for statement in bucket_statements(synthesized, fn):
            assert "*" not in json.dumps(statement["Action"]), fn.name


def test_serving_functions_read_only_what_they_serve_and_write_only_their_own_prefix() -> None:
    assert spec.function("chat").bucket_reads == (f"{spec.MODELS_PREFIX}chat/",)
    assert spec.function("chat").bucket_writes == ()
    assert set(spec.function("forecast_api").bucket_reads) == {spec.FORECASTS_PREFIX, spec.PLANS_PREFIX}
    assert spec.function("forecast_api").bucket_writes == ()
    recommendations = spec.function("recommendations")
    assert recommendations.bucket_writes == (live_activity.INCOMING_EVENTS_PREFIX,)
    assert set(recommendations.bucket_reads) == {f"{spec.MODELS_PREFIX}recommender/", stock.OUT_OF_STOCK_KEY}
    for name in ("chat", "forecast_api", "recommendations", "api", "segments_api"):
        fn = spec.function(name)
        assert not any(key.startswith(spec.INCOMING_PREFIX) for key in fn.bucket_reads), name
    # The spec's keys are the ones the code uses.
    assert stock.OUT_OF_STOCK_KEY in spec.function("ingest").bucket_writes
    assert records.SEGMENTS_PREFIX in spec.function("segments").bucket_writes
    assert {layout.FORECASTS_PREFIX, layout.PLANS_PREFIX} <= set(spec.function("forecast").bucket_writes)


def test_missing_objects_answer_404_because_readers_may_list_the_bucket(synthesized: Synthesized) -> None:
    bucket_id = synthesized.logical_id(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    for fn in spec.FUNCTIONS:
        listing = [
            s
            for s in bucket_statements(synthesized, fn)
            if s["Action"] == "s3:ListBucket" and s["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
        ]
        assert bool(listing) == bool(fn.bucket_reads or fn.bucket_writes), fn.name


def test_shopper_functions_and_ingest_have_reserved_concurrency(synthesized: Synthesized) -> None:
    functions = synthesized.stack.functions.functions
    shoppers = shopper_functions()
    assert spec.AUTHORIZER_FUNCTION in shoppers and "recommendations" in shoppers and "chat" in shoppers
    for fn in spec.FUNCTIONS:
        properties = synthesized.resource(functions[fn.name])["Properties"]
        if fn.name in shoppers:
            assert properties["ReservedConcurrentExecutions"] == DEFAULTS.shopper_reserved_concurrency
        elif fn.name == "ingest":
            assert properties["ReservedConcurrentExecutions"] == DEFAULTS.ingest_reserved_concurrency
        elif fn.bucket_deletes:
            assert properties["ReservedConcurrentExecutions"] == 1  # the erasure job: one run at a time
        else:
            assert "ReservedConcurrentExecutions" not in properties, fn.name
    # The queue never starts more ingest invocations than may run, so none are throttled into the DLQ.
    ingest_id = synthesized.logical_id(functions["ingest"])
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": ingest_id},
            "ScalingConfig": {"MaximumConcurrency": DEFAULTS.ingest_reserved_concurrency},
        },
    )


def test_ingest_scratch_space_holds_uploads_in_progress_not_the_file(synthesized: Synthesized) -> None:
    from shelfwise.aws.s3 import DEFAULT_PART_BYTES
    from shelfwise.ingest.reader import DEFAULT_MAX_DECOMPRESSED_BYTES

    ingest = spec.function("ingest")
    properties = synthesized.resource(synthesized.stack.functions.functions["ingest"])["Properties"]
    assert properties["EphemeralStorage"] == {"Size": ingest.ephemeral_storage_mb}
    scratch_bytes = ingest.ephemeral_storage_mb * 1024**2
    # Ingest reads the file in place from S3; /tmp holds one multipart part in progress per curated partition
    # and one for the rejection report: room for a year of daily partitions at once...
    assert scratch_bytes >= (366 + 1) * DEFAULT_PART_BYTES
    # ...and none for a copy of the file, which may be as large as the reader accepts.
    assert scratch_bytes < DEFAULT_MAX_DECOMPRESSED_BYTES
    assert ingest.memory_mb >= 4096


# --- guard rails --------------------------------------------------------------------------------------------


def test_schedule_targets_retry_then_dead_letter_into_an_alarmed_queue(synthesized: Synthesized) -> None:
    schedules = synthesized.stack.schedules
    queue_id = synthesized.logical_id(schedules.dead_letter_queue)
    for schedule in spec.SCHEDULES:
        (target,) = synthesized.resource(schedules.rules[schedule.name])["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}, schedule.name
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600
    assert synthesized.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
        },
    )


def test_waf_guards_the_api_stage_with_managed_rules_and_a_rate_per_ip(synthesized: Synthesized) -> None:
    (acl_id,) = synthesized.template.find_resources("AWS::WAFv2::WebACL")
    acl = synthesized.resources[acl_id]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[group]["Statement"]["ManagedRuleGroupStatement"]
        assert statement["VendorName"] == "AWS" and statement["Name"] == group
    rate = rules["RatePerIp"]["Statement"]["RateBasedStatement"]
    assert rate == {"AggregateKeyType": "IP", "Limit": DEFAULTS.waf_requests_per_ip_per_5_minutes}
    assert rules["RatePerIp"]["Action"] == {"Block": {}}
    (association,) = synthesized.template.find_resources("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    stage_id = synthesized.logical_id(synthesized.stack.api.rest_api.deployment_stage)
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


def test_every_log_group_has_a_retention_including_service_created_ones(synthesized: Synthesized) -> None:
    groups = synthesized.template.find_resources("AWS::Logs::LogGroup")
    assert all(
        group["Properties"]["RetentionInDays"] == DEFAULTS.log_retention_days for group in groups.values()
    )
    # Every function, CDK's own helpers included, writes to one of these groups instead of an unmanaged one.
    for logical_id, function in synthesized.template.find_resources("AWS::Lambda::Function").items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert log_group["Ref"] in groups, logical_id
    # Log groups AWS services create themselves: API Gateway execution logs, SageMaker training jobs.
    execution = synthesized.resource(synthesized.stack.api.execution_logs)["Properties"]
    assert "API-Gateway-Execution-Logs_" in json.dumps(execution["LogGroupName"])
    stage = synthesized.resource(synthesized.stack.api.rest_api.deployment_stage)
    assert synthesized.logical_id(synthesized.stack.api.execution_logs) in stage["DependsOn"]
    synthesized.template.has_resource_properties(
        "Custom::LogRetention",
        {"LogGroupName": "/aws/sagemaker/TrainingJobs", "RetentionInDays": DEFAULTS.log_retention_days},
    )


# Acknowledgements applied (finding x construct) before the audiences, WAF and prefix grants existed.
ACKNOWLEDGEMENTS_BEFORE = 69


def test_cdk_nag_stays_clean_with_fewer_acknowledgements_than_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[tuple[str, str]] = []
    original = acknowledgements.acknowledge

    def counting(construct: Any, *findings: tuple[str, str]) -> None:
        applied.extend((construct.node.path, finding) for finding, _ in findings)
        original(construct, *findings)

    monkeypatch.setattr(acknowledgements, "acknowledge", counting)
    with functions_with_placeholders(tmp_path):
        build_app(dict(OFFLINE), outdir=str(tmp_path / "cdk.out"))
    assert len(applied) < ACKNOWLEDGEMENTS_BEFORE, len(applied)
    findings = {finding for _, finding in applied}
    assert "APIG3" not in findings  # the WAF is in place
    # Operations routes use the Cognito authorizer: no route but the public ones lacks authorization.
    assert {path for path, finding in applied if finding == "APIG4"} == {
        f"Shelfwise/Api/RestApi/Default{route.path}/{route.method}" for route in spec.ROUTES if route.public
    }


# --- layers -------------------------------------------------------------------------------------------------

LAMBDA_UNZIPPED_LIMIT_MB = 250
# Powertools v3 public layer (with pydantic and the X-Ray SDK), unzipped: about 20 MB; counted generously.
POWERTOOLS_LAYER_MB = 30


def installed_mb(requirement: str, seen: set[str]) -> float:
    """Size of an installed distribution and its dependencies (this machine's wheels, caches excluded)."""
    name = requirement.split("==")[0].split("[")[0].strip().lower()
    if name in seen:
        return 0.0
    seen.add(name)
    distribution = metadata.distribution(name)
    size = sum(
        (Path(str(distribution.locate_file(file))).stat().st_size)
        for file in distribution.files or []
        if "__pycache__" not in str(file) and Path(str(distribution.locate_file(file))).is_file()
    )
    for dependency in distribution.requires or []:
        if "extra ==" in dependency and "crypto" not in dependency:
            continue
        # Dependencies for other Pythons or platforms (exceptiongroup on Python < 3.11) are not installed.
        marker = dependency.split(";", 1)[1] if ";" in dependency else ""
        if marker and "extra" not in marker and not Marker(marker).evaluate():
            continue
        dependency_name = dependency.split(";")[0].split(" ")[0].split("<")[0].split(">")[0].split("=")[0]
        size += installed_mb(dependency_name, seen) * 1024**2
    return size / 1024**2


def function_size_mb(fn: spec.Function) -> float:
    seen: set[str] = set()
    size = (
        POWERTOOLS_LAYER_MB
        + sum(
            file.stat().st_size
            for file in fn.directory.rglob("*")
            if file.is_file() and "__pycache__" not in str(file)
        )
        / 1024**2
    )
    size += (
        sum(
            file.stat().st_size
            for file in (LAYERS_DIR / "domain").rglob("*")
            if file.is_file() and "__pycache__" not in str(file)
        )
        / 1024**2
    )
    for layer in fn.layers:
        if layer == "domain":
            continue
        for requirement in requirement_names(LAYERS_DIR / layer / "requirements.txt"):
            size += installed_mb(requirement, seen)
        no_deps = LAYERS_DIR / layer / NO_DEPS_REQUIREMENTS
        for requirement in requirement_names(no_deps) if no_deps.exists() else []:
            # Installed without dependencies: the package alone (its dependencies marked as seen).
            size += installed_mb(requirement, seen | _dependency_names(requirement))
    return size


def _dependency_names(requirement: str) -> set[str]:
    name = requirement.split("==")[0].strip()
    return {
        dependency.split(";")[0].split(" ")[0].split("<")[0].split(">")[0].split("=")[0].lower()
        for dependency in metadata.distribution(name).requires or []
    }


def test_functions_with_the_new_layers_stay_under_lambdas_unzipped_limit() -> None:
    """An estimate from the packages installed here (x86_64 wheels; the arm64 ones are of similar size).

    Functions with the `data` layer are left out: untrimmed pyarrow overstates them here, and the trimmed
    layer is measured when it is built (docs/configuration.md).
    """
    sizes = {
        fn.name: function_size_mb(fn)
        for fn in spec.FUNCTIONS
        if fn.packaging == "zip" and "data" not in fn.layers
    }
    # chat: about 241 MB (onnxruntime, numpy, tokenizers, rjieba, phonenumbers, python-stdnum, Powertools and
    # its default model, which carries the 33 MB int8 sentence encoder).
    assert sizes["chat"] < LAMBDA_UNZIPPED_LIMIT_MB, sizes
    encoder = spec.REPO_ROOT / "functions" / "chat" / "default_model" / "encoder" / "encoder.onnx"
    assert encoder.is_file()  # counted in the function's own folder above
    assert "tokenizers==0.23.3" in requirement_names(LAYERS_DIR / "inference" / NO_DEPS_REQUIREMENTS)
    assert sizes[spec.AUTHORIZER_FUNCTION] < 100, sizes
    assert all(size < LAMBDA_UNZIPPED_LIMIT_MB for size in sizes.values()), sizes
