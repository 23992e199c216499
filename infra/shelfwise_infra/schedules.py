"""One EventBridge rule per spec schedule, targeting the schedule's function."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.functions import construct_id


def rule_name(stage: str, schedule: spec.Schedule) -> str:
    return f"shelfwise-{stage}-{schedule.name}"


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id_: str, *, stage: str, functions: dict[str, lambda_.Function]
    ) -> None:
        super().__init__(scope, construct_id_)
        self.rules: dict[str, events.Rule] = {}
        for schedule in spec.SCHEDULES:
            if schedule.function not in functions:
                raise ValueError(f"schedule {schedule.name!r} targets unknown function {schedule.function!r}")
            name = rule_name(stage, schedule)
            self.rules[schedule.name] = events.Rule(
                self,
                construct_id(schedule.name),
                rule_name=name,
                description=schedule.description,
                schedule=events.Schedule.expression(schedule.expression),
                targets=[
                    targets.LambdaFunction(
                        functions[schedule.function], event=scheduled_event_input(name, schedule)
                    )
                ],
            )


def scheduled_event_input(name: str, schedule: spec.Schedule) -> events.RuleTargetInput:
    """The Scheduled Event EventBridge would send, with the schedule's own `detail` filled in.

    A scheduled rule always sends `detail: {}`; the input transformer puts the spec's detail there so the
    handler knows which schedule fired. The shape matches what the local cloud's scheduler sends.
    """
    rule_arn = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{name}"
    return events.RuleTargetInput.from_object(
        {
            "version": "0",
            "id": events.EventField.event_id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": events.EventField.account,
            "time": events.EventField.time,
            "region": events.EventField.region,
            "resources": [rule_arn],
            "detail": dict(schedule.detail),
        }
    )
