"""Workflows: plan → Distributed Map over the shards → finalize, one state machine per spec workflow.

The same function is invoked three ways (see `spec.Workflow`). Each shard is retried `shard_retries` times;
a shard that still fails is caught into `{"shard": ..., "error": ...}` so one bad shard never fails the run,
and finalize sees every shard's outcome in plan order.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig, log_retention
from shelfwise_infra.functions import construct_id

RUN_ID = "$$.Execution.Name"
# Plan and finalize are single invocations; the whole run gets room for many waves of shards.
WORKFLOW_TIMEOUT = Duration.hours(6)
SHARD_RETRY_INTERVAL = Duration.seconds(5)


class Workflows(Construct):
    """Every spec workflow's state machine, keyed by workflow name."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        config: StageConfig,
        functions: dict[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id_)
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for workflow in spec.WORKFLOWS:
            function = functions.get(workflow.function)
            if function is None:
                raise ValueError(f"workflow {workflow.name!r} runs unknown function {workflow.function!r}")
            self.state_machines[workflow.name] = self._state_machine(workflow, function, config)

    def _step(
        self, name: str, state_name: str, function: lambda_.IFunction, fields: dict[str, Any], **options: Any
    ) -> tasks.LambdaInvoke:
        """One invocation of the workflow's function: `{"step": "<plan|shard|finalize>", **fields}`."""
        return tasks.LambdaInvoke(
            self,
            f"{name}{state_name}",
            state_name=state_name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object({"step": state_name.lower(), **fields}),
            payload_response_only=True,
            **options,
        )

    def _state_machine(
        self, workflow: spec.Workflow, function: lambda_.IFunction, config: StageConfig
    ) -> sfn.StateMachine:
        name = construct_id(workflow.name)
        plan = self._step(
            name,
            "Plan",
            function,
            {"run_id": sfn.JsonPath.string_at(RUN_ID), "scheduled_event": sfn.JsonPath.object_at("$")},
            result_path="$.plan",
        )
        shard = self._step(
            name,
            "Shard",
            function,
            {"run_id": sfn.JsonPath.string_at("$.run_id"), "shard": sfn.JsonPath.object_at("$.shard")},
            retry_on_service_exceptions=False,
        )
        shard.add_retry(
            errors=[sfn.Errors.ALL],
            max_attempts=workflow.shard_retries,
            interval=SHARD_RETRY_INTERVAL,
            backoff_rate=2.0,
        )
        shard_failed = sfn.Pass(
            self,
            f"{name}ShardFailed",
            state_name="Shard failed",
            parameters={
                "shard": sfn.JsonPath.object_at("$.shard"),
                "error": sfn.JsonPath.string_at("$.failure.Cause"),
            },
        )
        shard.add_catch(shard_failed, errors=[sfn.Errors.ALL], result_path="$.failure")
        shards = sfn.DistributedMap(
            self,
            f"{name}Shards",
            state_name="Shards",
            items_path="$.plan.shards",
            item_selector={
                "run_id": sfn.JsonPath.string_at(RUN_ID),
                "shard": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=workflow.max_concurrency,
            result_path="$.results",
        )
        shards.item_processor(shard)
        finalize = self._step(
            name,
            "Finalize",
            function,
            {
                "run_id": sfn.JsonPath.string_at(RUN_ID),
                "plan": sfn.JsonPath.object_at("$.plan"),
                "results": sfn.JsonPath.list_at("$.results"),
            },
        )
        log_group = logs.LogGroup(
            self,
            f"{name}StateMachineLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        return sfn.StateMachine(
            self,
            f"{name}StateMachine",
            comment=workflow.description,
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(shards).next(finalize)),
            timeout=WORKFLOW_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
