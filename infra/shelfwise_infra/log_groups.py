"""Every log group the stack causes gets a retention period, including those of CDK's own helper functions.

Lambda writes to `/aws/lambda/<name>` and creates it, without retention, unless the function names a log
group. The platform's functions name their own (`functions.py`); CDK's helpers (the bucket-notification
handler, the log-retention handler) are raw CloudFormation functions, so they get a log group here and are
pointed at it. Log groups that AWS services create themselves are covered where the service is set up: API
Gateway execution logs in `api.py`, SageMaker training jobs in `training.py`.
"""

from __future__ import annotations

from aws_cdk import CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from shelfwise_infra.config import StageConfig, log_retention

LAMBDA_FUNCTION = "AWS::Lambda::Function"


def functions_without_log_group(stack: Stack) -> list[CfnResource]:
    found: list[CfnResource] = []
    for construct in stack.node.find_all():
        if isinstance(construct, lambda_.CfnFunction):
            if construct.logging_config is None:
                found.append(construct)
        elif isinstance(construct, CfnResource) and construct.cfn_resource_type == LAMBDA_FUNCTION:
            found.append(construct)
    return found


def give_every_log_group_retention(stack: Stack, config: StageConfig) -> list[logs.LogGroup]:
    groups: list[logs.LogGroup] = []
    functions = functions_without_log_group(stack)
    if not functions:
        return groups
    scope = Construct(stack, "HelperFunctionLogs")
    for function in functions:
        owner = function.node.scope
        assert owner is not None
        group = logs.LogGroup(
            scope,
            owner.node.id,
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        if isinstance(function, lambda_.CfnFunction):
            function.logging_config = lambda_.CfnFunction.LoggingConfigProperty(
                log_group=group.log_group_name
            )
        else:
            function.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
        groups.append(group)
    return groups
