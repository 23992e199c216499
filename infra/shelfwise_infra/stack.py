"""The shelfwise stack: every resource in `shelfwise_infra.spec`, wired together."""

from __future__ import annotations

from aws_cdk import Stack, Tags
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.api import Api
from shelfwise_infra.config import StageConfig
from shelfwise_infra.functions import Functions
from shelfwise_infra.identity import Identity
from shelfwise_infra.keys import Keys
from shelfwise_infra.layers import Layers
from shelfwise_infra.log_groups import give_every_log_group_retention
from shelfwise_infra.messaging import Messaging
from shelfwise_infra.monitoring import Monitoring
from shelfwise_infra.schedules import Schedules
from shelfwise_infra.storage import Storage
from shelfwise_infra.training import TrainingJobs
from shelfwise_infra.workflows import Workflows


class ShelfwiseStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(
            scope, construct_id, description="shelfwise: AI operations for online retail", **kwargs
        )
        Tags.of(self).add("project", "shelfwise")
        Tags.of(self).add("stage", config.stage)
        self.config = config
        self.storage = Storage(self, "Storage", retention=config.retention)
        self.messaging = Messaging(self, "Messaging", event_archive_days=config.event_archive_days)
        self.layers = Layers(self, "Layers")
        self.identity = Identity(self, "Identity", config=config)
        self.keys = Keys(self, "Keys")
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            storage=self.storage,
            messaging=self.messaging,
            layers=self.layers,
            identity=self.identity,
            keys=self.keys,
        )
        self.api = Api(self, "Api", config=config, functions=self.functions.functions, identity=self.identity)
        self.training_jobs = TrainingJobs(
            self, "TrainingJobs", config=config, bucket=self.storage.buckets[spec.DATA_BUCKET.id]
        )
        self.workflows = Workflows(self, "Workflows", config=config, functions=self.functions.functions)
        self.schedules = Schedules(
            self,
            "Schedules",
            stage=config.stage,
            functions=self.functions.functions,
            training_jobs=self.training_jobs.state_machines,
            workflows=self.workflows.state_machines,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dead_letter_queues={
                **self.messaging.dead_letter_queues,
                "Schedules": self.schedules.dead_letter_queue,
            },
            functions=self.functions.functions,
            state_machines={
                **{f"train-{name}": machine for name, machine in self.training_jobs.state_machines.items()},
                **self.workflows.state_machines,
            },
            rest_api=self.api.rest_api,
            alarm_email=config.alarm_email,
        )
        # Last: CDK's own helper functions (bucket notifications, log retention) exist only by now.
        give_every_log_group_retention(self, config)
