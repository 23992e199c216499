"""One EventBridge rule per spec schedule, targeting its function, training job or workflow.

A function gets the Scheduled Event directly; a training job's or workflow's state machine gets it as the
execution input (the workflow passes it to its plan step as `scheduled_event`).

EventBridge retries a target it cannot deliver to (throttling, a missing permission, a function that is being
updated) and then puts the event in the schedules' dead-letter queue, which has an alarm: a night without its
forecast or training run is noticed instead of silently skipped.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.functions import construct_id
from shelfwise_infra.messaging import DEAD_LETTER_RETENTION

# Delivery attempts after the first, and how long EventBridge keeps trying: a nightly run that starts hours
# late collides with the next night's, so give up and dead-letter it for a person to decide.
RETRY_ATTEMPTS = 4
MAX_EVENT_AGE = Duration.hours(2)


def rule_name(stage: str, schedule: spec.Schedule) -> str:
    return f"shelfwise-{stage}-{schedule.name}"


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        stage: str,
        functions: dict[str, lambda_.Function],
        training_jobs: dict[str, sfn.StateMachine],
        workflows: dict[str, sfn.StateMachine],
    ) -> None:
        super().__init__(scope, construct_id_)
        self.rules: dict[str, events.Rule] = {}
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        delivery = {
            "dead_letter_queue": self.dead_letter_queue,
            "retry_attempts": RETRY_ATTEMPTS,
            "max_event_age": MAX_EVENT_AGE,
        }
        for schedule in spec.SCHEDULES:
            name = rule_name(stage, schedule)
            event = scheduled_event_input(name, schedule)
            target_type, target_name = schedule.target
            target: events.IRuleTarget
            if target_type == "function":
                if target_name not in functions:
                    raise ValueError(f"schedule {schedule.name!r} targets unknown function {target_name!r}")
                target = targets.LambdaFunction(functions[target_name], event=event, **delivery)
            else:
                machines = training_jobs if target_type == "training_job" else workflows
                if target_name not in machines:
                    raise ValueError(
                        f"schedule {schedule.name!r} targets unknown {target_type.replace('_', ' ')} "
                        f"{target_name!r}"
                    )
                target = targets.SfnStateMachine(machines[target_name], input=event, **delivery)
            self.rules[schedule.name] = events.Rule(
                self,
                construct_id(schedule.name),
                rule_name=name,
                description=schedule.description,
                schedule=events.Schedule.expression(schedule.expression),
                targets=[target],
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
