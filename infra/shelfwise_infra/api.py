"""The REST API: one method per spec route, integrated with the route's function.

Who may call a route is its `spec.Route.access` (docs/security.md):
- public: no credential (liveness, the API description); no customer data.
- shopper: `Authorization: Bearer <customer token>` (or a server's operator token with `shelfwise/server`),
  checked by the `authorizer` function as a Lambda REQUEST authorizer.
- operations: a Cognito access token carrying the route's scope (`shelfwise/read` for GET, `shelfwise/write`
  otherwise), checked by API Gateway itself.
Non-public routes also need the API key of a usage plan, which is for throttling and quotas per client, not
identity. Request validation is done by the handlers (pydantic models), which answer bad input with the
platform's 4xx error body, so API Gateway request validators are not used. A WAF web ACL sits in front of the
stage; browsers get CORS preflight answers for the configured origins only.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig, log_retention
from shelfwise_infra.identity import Identity

# API Gateway's own rejections (missing key, throttled, unknown path) answer in the platform's error shape,
# with the request id a handler's error carries (`shelfwise.api.models.ErrorResponse`).
GATEWAY_ERROR_TEMPLATE = (
    '{"error": {"code": "$context.error.responseType", '
    '"message": $context.error.messageString, "details": [], "request_id": "$context.requestId"}}'
)
# Rejections the handlers also give carry the handlers' codes and statuses (shelfwise.api.http).
AUTH_ERROR_TEMPLATE = (
    '{{"error": {{"code": "{code}", "message": $context.error.messageString, "details": [], '
    '"request_id": "$context.requestId"}}}}'
)
CODED_RESPONSES = {
    apigateway.ResponseType.UNAUTHORIZED: ("Unauthorized", "unauthorized", "401"),
    apigateway.ResponseType.ACCESS_DENIED: ("AccessDenied", "forbidden", "403"),
    # No resource matches the path: with request authorizers only (no IAM auth), this is what API Gateway
    # calls a missing authentication token, and a 403 would send callers looking for a credential problem.
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("NoRoute", "not_found", "404"),
    apigateway.ResponseType.THROTTLED: ("Throttled", "too_many_requests", "429"),
    apigateway.ResponseType.QUOTA_EXCEEDED: ("QuotaExceeded", "too_many_requests", "429"),
    apigateway.ResponseType.REQUEST_TOO_LARGE: ("RequestTooLarge", "payload_too_large", "413"),
}
# What browsers may send cross-origin: the bearer token, JSON bodies and the usage-plan key. No cookies are
# involved, so credentials are not allowed.
CORS_ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Api-Key"]
CORS_MAX_AGE = Duration.hours(1)
# AWS managed rule groups in front of the API, in evaluation order after the per-IP rate rule.
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
# The common rule set blocks bodies over 8 KB; event batches (500 events) and chat messages are larger, and
# the handlers enforce their own body limits, so this one rule only counts.
COUNT_ONLY_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}


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
        identity: Identity,
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
        self.execution_logs = self._execution_logs(config)
        cors_headers = self._cors_error_headers(config)
        for response_type in (apigateway.ResponseType.DEFAULT_4_XX, apigateway.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type.replace('_', '').capitalize()}",
                type=response_type,
                templates={"application/json": GATEWAY_ERROR_TEMPLATE},
                response_headers=cors_headers or None,
            )
        for response_type, (name, code, status) in CODED_RESPONSES.items():
            headers = dict(cors_headers)
            if status == "401":
                headers["WWW-Authenticate"] = "'Bearer'"
            self.rest_api.add_gateway_response(
                f"Gateway{name}",
                type=response_type,
                status_code=status,
                templates={"application/json": AUTH_ERROR_TEMPLATE.format(code=code)},
                response_headers=headers,
            )

        self.shopper_authorizer: apigateway.RequestAuthorizer | None = None
        if any(route.access == "shopper" for route in spec.ROUTES):
            if spec.AUTHORIZER_FUNCTION not in functions:
                raise ValueError(f"shopper routes need the {spec.AUTHORIZER_FUNCTION!r} function in the spec")
            self.shopper_authorizer = apigateway.RequestAuthorizer(
                self,
                "ShopperAuthorizer",
                handler=functions[spec.AUTHORIZER_FUNCTION],
                # The token is the whole cache key: API Gateway caches the answer per Authorization header
                # value, never across callers. The authorizer allows every shopper route for a valid token
                # (handlers check the subject), so one cached answer is right for all of them. A short TTL
                # bounds how long a token stays accepted after it expires.
                identity_sources=[apigateway.IdentitySource.header("Authorization")],
                results_cache_ttl=Duration.seconds(config.authorizer_cache_seconds),
            )
        self.operator_authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self, "OperatorAuthorizer", cognito_user_pools=[identity.user_pool]
        )

        integrations: dict[str, apigateway.LambdaIntegration] = {}
        methods_by_path: dict[str, list[str]] = {}
        for route in spec.ROUTES:
            if route.function not in functions:
                raise ValueError(
                    f"route {route.method} {route.path} targets unknown function {route.function!r}"
                )
            integration = integrations.setdefault(
                route.function, apigateway.LambdaIntegration(functions[route.function], proxy=True)
            )
            resource = self.rest_api.root.resource_for_path(route.path)
            resource.add_method(
                route.method, integration, api_key_required=not is_public(route), **self._auth(route)
            )
            methods_by_path.setdefault(route.path, []).append(route.method)
        if config.cors_allowed_origins:
            # Preflight only where there is a route, answered by API Gateway (no authorizer, no key: browsers
            # never send credentials on a preflight).
            for path, methods in methods_by_path.items():
                self.rest_api.root.resource_for_path(path).add_cors_preflight(
                    allow_origins=list(config.cors_allowed_origins),
                    allow_methods=[*methods, "OPTIONS"],
                    allow_headers=CORS_ALLOWED_HEADERS,
                    allow_credentials=False,
                    max_age=CORS_MAX_AGE,
                )

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
        self.web_acl = self._web_acl(config)
        CfnOutput(self, "Url", value=self.rest_api.url, description="Base URL; routes start with /v1")
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api_key.key_id,
            description="Read the key with: aws apigateway get-api-key --include-value --api-key <id>",
        )

    def _auth(self, route: spec.Route) -> dict[str, object]:
        if route.access == "shopper":
            return {
                "authorization_type": apigateway.AuthorizationType.CUSTOM,
                "authorizer": self.shopper_authorizer,
            }
        if route.access == "operations":
            return {
                "authorization_type": apigateway.AuthorizationType.COGNITO,
                "authorizer": self.operator_authorizer,
                # Scopes make API Gateway accept access tokens only (not ID tokens) carrying this scope.
                "authorization_scopes": [route.scope],
            }
        return {"authorization_type": apigateway.AuthorizationType.NONE}

    @staticmethod
    def _cors_error_headers(config: StageConfig) -> dict[str, str]:
        """Lets a browser read API Gateway's own error bodies (401, 403, 429, ...).

        A gateway response cannot pick among several origins per request, so with more than one allowed origin
        browsers only see that the request failed; the handlers' own responses always carry the header.
        """
        if len(config.cors_allowed_origins) != 1:
            return {}
        return {"Access-Control-Allow-Origin": f"'{config.cors_allowed_origins[0]}'", "Vary": "'Origin'"}

    def _execution_logs(self, config: StageConfig) -> logs.LogGroup:
        """The log group API Gateway writes execution logs to, created first so it has a retention period.

        API Gateway would otherwise create it on the first error, with logs kept forever.
        """
        group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{config.stage}",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api.deployment_stage.node.add_dependency(group)
        return group

    def _web_acl(self, config: StageConfig) -> wafv2.CfnWebACL:
        """AWS managed rules and a per-IP rate limit in front of the stage (WAFv2 has no L2 construct)."""

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
            )

        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name="RatePerIp",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=config.waf_requests_per_ip_per_5_minutes
                    )
                ),
                visibility_config=visibility(f"shelfwise-{config.stage}-rate-per-ip"),
            )
        ]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name=group,
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                                )
                                for rule in COUNT_ONLY_RULES.get(group, ())
                            ]
                            or None,
                        )
                    ),
                    visibility_config=visibility(f"shelfwise-{config.stage}-{group}"),
                )
            )
        web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"shelfwise-{config.stage}-api",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(f"shelfwise-{config.stage}-api"),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=web_acl.attr_arn,
        )
        return web_acl
