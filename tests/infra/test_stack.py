"""What the synthesized CloudFormation template promises, checked against the platform spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cdk_synthesis import Synthesized
from shelfwise import settings
from shelfwise_infra import spec
from shelfwise_infra.api import is_public
from shelfwise_infra.config import StageConfig

pytestmark = pytest.mark.infra
DEFAULTS = StageConfig()


def statements_of(synthesized: Synthesized, fn: spec.Function) -> list[dict[str, Any]]:
    role_id = synthesized.logical_id(synthesized.stack.functions.roles[fn.name])
    policies = [
        resource
        for resource in synthesized.resources.values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    return [
        statement for policy in policies for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def allowed_actions_on(statements: list[dict[str, Any]], logical_id: str) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        if logical_id in json.dumps(statement["Resource"]):
            granted = statement["Action"]
            actions.update([granted] if isinstance(granted, str) else granted)
    return actions


def test_data_bucket_is_encrypted_private_versioned_and_retained(synthesized: Synthesized) -> None:
    for bucket_spec in spec.BUCKETS:
        bucket = synthesized.resource(synthesized.stack.storage.buckets[bucket_spec.id])
        properties = bucket["Properties"]
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        assert properties["LoggingConfiguration"]["DestinationBucketName"]
        assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_refuses_requests_without_tls(synthesized: Synthesized) -> None:
    buckets = synthesized.template.find_resources("AWS::S3::Bucket")
    policies = synthesized.template.find_resources("AWS::S3::BucketPolicy").values()
    for logical_id in buckets:
        (policy,) = [p for p in policies if p["Properties"]["Bucket"] == {"Ref": logical_id}]
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), logical_id


def test_data_bucket_lifecycle_expires_incoming_rejections_and_old_versions(synthesized: Synthesized) -> None:
    bucket = synthesized.resource(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    rules = {rule.get("Prefix", ""): rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules[spec.INCOMING_PREFIX]["ExpirationInDays"] == 30
    assert rules[spec.REJECTED_PREFIX]["ExpirationInDays"] == 90
    assert rules[""]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    # Curated data and its ingestion manifests never expire: reconciliation needs the manifests.
    assert not any(prefix.startswith(spec.CURATED_PREFIX) for prefix in rules)


def test_every_spec_table_is_on_demand_with_point_in_time_recovery_ttl_and_encryption(
    synthesized: Synthesized,
) -> None:
    assert len(synthesized.template.find_resources("AWS::DynamoDB::Table")) == len(spec.TABLES)
    for table_spec in spec.TABLES:
        properties = synthesized.resource(synthesized.stack.storage.tables[table_spec.id])["Properties"]
        expected_keys = [{"AttributeName": table_spec.partition_key, "KeyType": "HASH"}]
        if table_spec.sort_key:
            expected_keys.append({"AttributeName": table_spec.sort_key, "KeyType": "RANGE"})
        assert properties["KeySchema"] == expected_keys
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert properties["SSESpecification"]["SSEEnabled"] is True
        if table_spec.ttl_attribute:
            assert properties["TimeToLiveSpecification"] == {
                "AttributeName": table_spec.ttl_attribute,
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in properties


def test_every_queue_is_encrypted_tls_only_and_dead_letters_after_spec_retries(
    synthesized: Synthesized,
) -> None:
    messaging = synthesized.stack.messaging
    policies = synthesized.template.find_resources("AWS::SQS::QueuePolicy").values()
    for queue_spec in spec.QUEUES:
        queue = synthesized.resource(messaging.queues[queue_spec.id])["Properties"]
        dead_letters_id = synthesized.logical_id(messaging.dead_letter_queues[queue_spec.id])
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]},
            "maxReceiveCount": queue_spec.max_receive_count,
        }
        assert queue["VisibilityTimeout"] == queue_spec.visibility_timeout_seconds
        for queue_construct in (messaging.queues[queue_spec.id], messaging.dead_letter_queues[queue_spec.id]):
            logical_id = synthesized.logical_id(queue_construct)
            assert synthesized.resources[logical_id]["Properties"]["SqsManagedSseEnabled"] is True
            policy_text = json.dumps(
                [p for p in policies if {"Ref": logical_id} in p["Properties"]["Queues"]]
            )
            assert '"aws:SecureTransport": "false"' in policy_text, logical_id


def test_event_bus_exists_and_archives_platform_events_for_replay(synthesized: Synthesized) -> None:
    bus_id = synthesized.logical_id(synthesized.stack.messaging.event_bus)
    synthesized.template.resource_count_is("AWS::Events::EventBus", 1)
    synthesized.template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "SourceArn": {"Fn::GetAtt": [bus_id, "Arn"]},
            "EventPattern": {"source": [spec.EVENT_BUS.source]},
            "RetentionDays": DEFAULTS.event_archive_days,
        },
    )


def test_one_arm64_python_function_per_spec_entry_with_its_settings(synthesized: Synthesized) -> None:
    handlers = synthesized.template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "app.handler"}}
    )
    images = synthesized.template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"PackageType": "Image"}}
    )
    assert len(handlers) == len([fn for fn in spec.FUNCTIONS if fn.packaging == "zip"])
    assert len(images) == len([fn for fn in spec.FUNCTIONS if fn.packaging == "image"])
    for fn in spec.FUNCTIONS:
        properties = synthesized.resource(synthesized.stack.functions.functions[fn.name])["Properties"]
        assert properties["Architectures"] == ["arm64"]
        if fn.packaging == "zip":
            assert properties["Runtime"] == "python3.12"
        assert properties["MemorySize"] == fn.memory_mb
        assert properties["Timeout"] == fn.timeout_seconds
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogGroup"]


# Credentials differ by design: locally both token kinds are signed with development keys in the state dir;
# in AWS operator tokens come from the user pool (JWKS) and issuer/audience only when configured.
CREDENTIAL_VARIABLES = {
    settings.CUSTOMER_TOKEN_SECRET_ARN_ENV,
    settings.CUSTOMER_TOKEN_JWKS_URL_ENV,
    settings.CUSTOMER_TOKEN_ISSUER_ENV,
    settings.CUSTOMER_TOKEN_AUDIENCE_ENV,
    settings.OPERATOR_TOKEN_SECRET_ARN_ENV,
    settings.OPERATOR_TOKEN_JWKS_URL_ENV,
    settings.OPERATOR_TOKEN_ISSUER_ENV,
    settings.CORS_ALLOWED_ORIGINS_ENV,
}


def test_functions_get_the_same_environment_variables_as_in_the_local_cloud(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    for fn in spec.FUNCTIONS:
        variables = synthesized.resource(stack.functions.functions[fn.name])["Properties"]["Environment"][
            "Variables"
        ]
        assert set(variables) - CREDENTIAL_VARIABLES == set(spec.local_environment(fn)) - CREDENTIAL_VARIABLES
        assert variables[settings.STAGE_ENV] == DEFAULTS.stage
        for name, value in spec.powertools_environment(fn).items():
            assert variables[name] == value
        assert variables[spec.DATA_BUCKET.env] == {
            "Ref": synthesized.logical_id(stack.storage.buckets["DataBucket"])
        }
        for table in spec.TABLES:
            assert variables[table.env] == {"Ref": synthesized.logical_id(stack.storage.tables[table.id])}
        assert variables[spec.EVENT_BUS.env] == {"Ref": synthesized.logical_id(stack.messaging.event_bus)}


def test_functions_get_powertools_and_exactly_the_layers_the_spec_names(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    for fn in spec.FUNCTIONS:
        if fn.packaging == "image":
            continue  # an image carries its own dependencies; Lambda refuses layers on image functions
        powertools, *own = synthesized.resource(stack.functions.functions[fn.name])["Properties"]["Layers"]
        assert powertools == stack.resolve(stack.layers.powertools.layer_version_arn)
        assert own == [{"Ref": synthesized.logical_id(stack.layers.by_name[name])} for name in fn.layers]
    for layer in synthesized.template.find_resources("AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def test_each_function_may_touch_only_the_tables_and_bucket_the_spec_grants(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    for fn in spec.FUNCTIONS:
        statements = statements_of(synthesized, fn)
        for table in spec.TABLES:
            actions = allowed_actions_on(statements, synthesized.logical_id(stack.storage.tables[table.id]))
            assert ("dynamodb:GetItem" in actions) == (table.id in fn.reads or table.id in fn.writes), (
                fn,
                table,
            )
            assert ("dynamodb:PutItem" in actions) == (table.id in fn.writes), (fn.name, table.id)
        bucket_actions = allowed_actions_on(
            statements, synthesized.logical_id(stack.storage.buckets["DataBucket"])
        )
        assert ("s3:GetObject" in bucket_actions) == bool(fn.bucket_reads), fn.name
        assert ("s3:PutObject" in bucket_actions) == bool(fn.bucket_writes), fn.name
        assert not any(action.endswith("*") for action in bucket_actions), fn.name
        bus_actions = allowed_actions_on(statements, synthesized.logical_id(stack.messaging.event_bus))
        assert ("events:PutEvents" in bus_actions) == fn.publishes_events, fn.name


def test_uploads_under_the_ingest_prefix_are_queued_for_the_ingest_function(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    (notifications,) = synthesized.template.find_resources("Custom::S3BucketNotifications").values()
    queue_configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    for fn in spec.FUNCTIONS:
        for trigger in fn.triggers:
            queue_id = synthesized.logical_id(stack.messaging.queues[trigger.queue])
            assert {
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": trigger.prefix}]}},
                "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            } in queue_configurations
            synthesized.template.has_resource_properties(
                "AWS::Lambda::EventSourceMapping",
                {
                    "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                    "FunctionName": {"Ref": synthesized.logical_id(stack.functions.functions[fn.name])},
                    "BatchSize": trigger.batch_size,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                },
            )
    assert any(trigger.prefix == spec.INCOMING_PREFIX for fn in spec.FUNCTIONS for trigger in fn.triggers)


def test_one_api_method_per_route_requiring_an_api_key_except_public_routes(synthesized: Synthesized) -> None:
    api = synthesized.stack.api.rest_api
    # No CORS origins configured: no OPTIONS methods either.
    synthesized.template.resource_count_is("AWS::ApiGateway::Method", len(spec.ROUTES))
    for route in spec.ROUTES:
        method = api.root.resource_for_path(route.path).node.find_child(route.method)
        properties = synthesized.resource(method)["Properties"]
        assert properties["HttpMethod"] == route.method
        assert properties["ApiKeyRequired"] is not is_public(route), route
        assert properties["Integration"]["Type"] == "AWS_PROXY"
        function_id = synthesized.logical_id(synthesized.stack.functions.functions[route.function])
        assert function_id in json.dumps(properties["Integration"]["Uri"])
    assert "/v1/health" in [route.path for route in spec.ROUTES if is_public(route)]


def test_api_stage_is_throttled_traced_and_writes_json_access_logs(synthesized: Synthesized) -> None:
    (stage,) = synthesized.template.find_resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == DEFAULTS.stage
    assert properties["TracingEnabled"] is True
    access_logs_id = synthesized.logical_id(synthesized.stack.api.access_logs)
    assert properties["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": [access_logs_id, "Arn"]}
    access_log_fields = json.loads(properties["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "ip", "httpMethod", "resourcePath"} <= set(access_log_fields)
    (settings_for_all,) = properties["MethodSettings"]
    assert settings_for_all["ThrottlingRateLimit"] == DEFAULTS.api_rate_limit
    assert settings_for_all["ThrottlingBurstLimit"] == DEFAULTS.api_burst_limit
    assert settings_for_all["MetricsEnabled"] is True
    assert settings_for_all["DataTraceEnabled"] is False


def test_api_keys_come_with_a_usage_plan_quota_and_throttle(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Quota": {"Limit": DEFAULTS.api_daily_quota, "Period": "DAY"},
            "Throttle": {"RateLimit": DEFAULTS.api_rate_limit, "BurstLimit": DEFAULTS.api_burst_limit},
        },
    )
    synthesized.template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_gateway_rejections_use_the_platform_error_body(synthesized: Synthesized) -> None:
    responses = synthesized.template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    assert {r["Properties"]["ResponseType"] for r in responses} == {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "QUOTA_EXCEEDED",
        "REQUEST_TOO_LARGE",
    }
    for response in responses:
        template = response["Properties"]["ResponseTemplates"]["application/json"]
        assert template.startswith('{"error": {"code": ') and '"details": []' in template
        # The same layout as a handler's error, request id included (shelfwise.api.models.ErrorResponse).
        assert template.endswith('"request_id": "$context.requestId"}}')


def test_gateway_rejections_the_handlers_also_give_carry_their_codes(synthesized: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, status, code in (
        ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found"),  # no resource matches the path
        ("THROTTLED", "429", "too_many_requests"),
        ("QUOTA_EXCEEDED", "429", "too_many_requests"),
        ("REQUEST_TOO_LARGE", "413", "payload_too_large"),
    ):
        assert responses[response_type]["StatusCode"] == status
        template = responses[response_type]["ResponseTemplates"]["application/json"]
        assert template.startswith(f'{{"error": {{"code": "{code}", '), response_type


def test_one_rule_per_schedule_with_its_expression_targeting_its_function_job_or_workflow(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    synthesized.template.resource_count_is("AWS::Events::Rule", len(spec.SCHEDULES))
    for schedule in spec.SCHEDULES:
        rule_id = synthesized.logical_id(stack.schedules.rules[schedule.name])
        properties = synthesized.resources[rule_id]["Properties"]
        assert properties["ScheduleExpression"] == schedule.expression
        (target,) = properties["Targets"]
        sent = json.dumps(target["InputTransformer"]["InputTemplate"])
        assert '\\"detail-type\\":\\"Scheduled Event\\"' in sent
        assert json.dumps(json.dumps(schedule.detail, separators=(",", ":")))[1:-1] in sent
        assert f"rule/shelfwise-{DEFAULTS.stage}-{schedule.name}" in sent
        target_type, name = schedule.target
        if target_type == "function":
            function_id = synthesized.logical_id(stack.functions.functions[name])
            assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
            synthesized.template.has_resource_properties(
                "AWS::Lambda::Permission",
                {
                    "Principal": "events.amazonaws.com",
                    "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
                    "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
                },
            )
        else:
            machines = (
                stack.training_jobs.state_machines
                if target_type == "training_job"
                else stack.workflows.state_machines
            )
            assert target["Arn"] == {"Ref": synthesized.logical_id(machines[name])}
            assert target["RoleArn"]
    kinds = {schedule.target[0] for schedule in spec.SCHEDULES}
    assert kinds == {"function", "training_job", "workflow"}


def test_alarms_watch_every_dead_letter_queue_every_function_and_api_errors(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    topic_id = synthesized.logical_id(stack.monitoring.topic)
    alarms = synthesized.template.find_resources("AWS::CloudWatch::Alarm").values()
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for alarm in alarms)
    for queue_id, dead_letters in stack.messaging.dead_letter_queues.items():
        (
            synthesized.template.has_resource_properties(
                "AWS::CloudWatch::Alarm",
                {
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [
                        {
                            "Name": "QueueName",
                            "Value": {"Fn::GetAtt": [synthesized.logical_id(dead_letters), "QueueName"]},
                        }
                    ],
                    "Threshold": 0,
                    "ComparisonOperator": "GreaterThanThreshold",
                },
            ),
            queue_id,
        )
    for fn in spec.FUNCTIONS:
        synthesized.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": "Errors",
                "Namespace": "AWS/Lambda",
                "Dimensions": [
                    {
                        "Name": "FunctionName",
                        "Value": {"Ref": synthesized.logical_id(stack.functions.functions[fn.name])},
                    }
                ],
            },
        )
    synthesized.template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "5XXError", "Namespace": "AWS/ApiGateway"}
    )
    synthesized.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_cdk_nag_finds_nothing_unacknowledged(synthesized: Synthesized) -> None:
    reports = {report["pluginName"]: report for report in synthesized.validation_report()["pluginReports"]}
    assert reports["AwsSolutions"]["conclusion"] == "success"
    assert reports["AwsSolutions"]["violations"] == []
