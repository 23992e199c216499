"""Alarms on what needs a person: dead letters, function errors, failed training and workflow runs, and API
server errors."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.functions import construct_id

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        dead_letter_queues: dict[str, sqs.Queue],
        functions: dict[str, lambda_.Function],
        state_machines: dict[str, sfn.StateMachine],
        rest_api: apigateway.RestApi,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id_)
        # A customer-managed key: the AWS-managed SNS key does not let CloudWatch publish to the topic.
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True, description="shelfwise alarm topic")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="shelfwise alarms", master_key=key, enforce_ssl=True
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []

        for queue_id, dead_letters in dead_letter_queues.items():
            self._alarm(
                f"{queue_id}DeadLettersAlarm",
                dead_letters.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                f"Messages from {queue_id} failed repeatedly and wait in its dead-letter queue",
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
        for name, function in functions.items():
            self._alarm(
                f"{construct_id(name)}ErrorsAlarm",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {name} function raised errors",
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            )
        for name, machine in state_machines.items():
            # A run that failed, timed out or was aborted left no new model or plan behind.
            for outcome, metric in (
                ("Failed", machine.metric_failed(period=PERIOD, statistic="Sum")),
                ("TimedOut", machine.metric_timed_out(period=PERIOD, statistic="Sum")),
            ):
                self._alarm(
                    f"{construct_id(name)}{outcome}Alarm",
                    metric,
                    f"A {name} run {outcome.lower().replace('timedout', 'timed out')}",
                    threshold=1,
                    comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                )
        self._alarm(
            "Api5xxAlarm",
            rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
            "The API answered with 5XX errors",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        # The reconcile function's metrics (Powertools EMF, dimension `service`): an ingestion was lost and
        # its file re-driven, or a re-driven file still has no manifest (docs/contracts.md, "After a crash").
        for metric_name, description in (
            ("FilesRedriven", "Dropped files lost their ingestion (crash or timeout) and were re-driven"),
            ("FilesStillStuck", "Dropped files still have no manifest after a re-drive; someone has to look"),
        ):
            self._alarm(
                f"Ingest{metric_name}Alarm",
                cloudwatch.Metric(
                    namespace="shelfwise",
                    metric_name=metric_name,
                    dimensions_map={"service": spec.function("reconcile").service},
                    period=PERIOD,
                    statistic="Sum",
                ),
                description,
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            )

    def _alarm(
        self,
        alarm_id: str,
        metric: cloudwatch.Metric,
        description: str,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
    ) -> None:
        alarm = metric.create_alarm(
            self,
            alarm_id,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
