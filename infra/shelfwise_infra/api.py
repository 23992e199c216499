"""The REST API: one method per spec route, integrated with the route's function.

Authentication decision: every route requires an API key bound to a usage plan (quota + throttle), except
`GET /v1/health`, which stays public so load balancers and uptime probes can check liveness without a
secret; it returns no customer data. Request validation is done by the handlers (pydantic models), which
answer bad input with the platform's 4xx error body, so API Gateway request validators are not used.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig, log_retention

# API Gateway's own rejections (missing key, throttled, unknown path) answer in the platform's error shape.
GATEWAY_ERROR_TEMPLATE = (
    '{"error": {"code": "$context.error.responseType", '
    '"message": $context.error.messageString, "details": []}}'
)


def is_public(route: spec.Route) -> bool:
    return route.public


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"shelfwise-{config.stage}",
            description="shelfwise HTTPS API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Execution logging needs the account-level role that lets API Gateway write to CloudWatch Logs.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=config.stage,
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                # Request/response bodies may carry customer text; never copy them into logs.
                data_trace_enabled=False,
            ),
        )
        for response_type in (apigateway.ResponseType.DEFAULT_4_XX, apigateway.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type.replace('_', '').capitalize()}",
                type=response_type,
                templates={"application/json": GATEWAY_ERROR_TEMPLATE},
            )
        integrations: dict[str, apigateway.LambdaIntegration] = {}
        for route in spec.ROUTES:
            if route.function not in functions:
                raise ValueError(
                    f"route {route.method} {route.path} targets unknown function {route.function!r}"
                )
            integration = integrations.setdefault(
                route.function, apigateway.LambdaIntegration(functions[route.function], proxy=True)
            )
            resource = self.rest_api.root.resource_for_path(route.path)
            resource.add_method(route.method, integration, api_key_required=not is_public(route))

        self.usage_plan = self.rest_api.add_usage_plan(
            "UsagePlan",
            name=f"shelfwise-{config.stage}",
            throttle=apigateway.ThrottleSettings(
                rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit
            ),
            quota=apigateway.QuotaSettings(limit=config.api_daily_quota, period=apigateway.Period.DAY),
            api_stages=[
                apigateway.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)
            ],
        )
        self.api_key = self.rest_api.add_api_key("DefaultApiKey", description="shelfwise default client key")
        self.usage_plan.add_api_key(self.api_key)
        CfnOutput(self, "Url", value=self.rest_api.url, description="Base URL; routes start with /v1")
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api_key.key_id,
            description="Read the key with: aws apigateway get-api-key --include-value --api-key <id>",
        )
