"""Training jobs: one container image, SageMaker execution role and Step Functions state machine per spec job.

A schedule starts the state machine; it runs `SageMakerCreateTrainingJob` and waits for it (`.sync`). The job
reads its channels as S3 prefixes of the data bucket and SageMaker writes
`s3://<bucket>/<job.output_prefix><training-job-name>/output/model.tar.gz`, which the model registry picks up
through the bucket's `models/` notification.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig, log_retention
from shelfwise_infra.functions import IMAGE_CONTEXT_EXCLUDES, construct_id, image_dockerfile

# `$$.Execution.StartTime` ("2024-03-01T12:30:05.123Z") split on these characters gives the parts of a
# timestamp SageMaker accepts in a job name (letters, digits and hyphens only).
TIMESTAMP_SEPARATORS = "-:.TZ"
# The state machine waits for the job; give it a little more than the job's own limit to report back.
STATE_MACHINE_SLACK_SECONDS = 1800
# SageMaker writes every training job's container output to this one log group.
SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
SAGEMAKER_LOG_GROUP_ARN = (
    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{SAGEMAKER_LOG_GROUP}"
)


class PrefixLocation(tasks.S3Location):
    """An S3 prefix of the data bucket that grants nothing when bound to the task.

    `S3Location.from_bucket` would grant the execution role `Bucket.grant_read`/`grant_put` wildcards
    (s3:GetObject*, s3:List*, s3:DeleteObject*, ...); the role gets named actions on exactly its prefixes
    instead (`_execution_role`).
    """

    def __init__(self, bucket: s3.IBucket, prefix: str) -> None:
        super().__init__()
        self._uri = f"s3://{bucket.bucket_name}/{prefix}"

    def bind(
        self, task: tasks.ISageMakerTask, *, for_reading: bool | None = None, for_writing: bool | None = None
    ) -> tasks.S3LocationConfig:
        return tasks.S3LocationConfig(uri=self._uri)


def training_job_name_expression(stage: str, job: spec.TrainingJob) -> str:
    """`<stage>-<job>-<YYYYMMDD>T<HHMMSS><mmm>` from the execution start time, unique per execution."""
    parts = sfn.JsonPath.string_split(sfn.JsonPath.string_at("$$.Execution.StartTime"), TIMESTAMP_SEPARATORS)
    pieces = [sfn.JsonPath.array_get_item(parts, index) for index in range(7)]
    return sfn.JsonPath.format(f"{stage}-{job.name}-{{}}{{}}{{}}T{{}}{{}}{{}}{{}}", *pieces)


class TrainingJobs(Construct):
    """Every spec training job's `images`, SageMaker execution `roles` and `state_machines`, keyed by name."""

    def __init__(
        self, scope: Construct, construct_id_: str, *, config: StageConfig, bucket: s3.Bucket
    ) -> None:
        super().__init__(scope, construct_id_)
        self.images: dict[str, ecr_assets.DockerImageAsset] = {}
        self.roles: dict[str, iam.Role] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for job in spec.TRAINING_JOBS:
            self._job(job, config, bucket)
        self.log_retention: logs.LogRetention | None = None
        if spec.TRAINING_JOBS:
            # SageMaker creates this one account-wide group itself (keeping logs forever), and it may exist
            # already or be shared with another stage, so its retention is set by CDK's log-retention
            # handler, which creates the group if missing and otherwise only sets the retention period.
            self.log_retention = logs.LogRetention(
                self,
                "TrainingJobLogsRetention",
                log_group_name=SAGEMAKER_LOG_GROUP,
                retention=log_retention(config.log_retention_days),
            )

    def _job(self, job: spec.TrainingJob, config: StageConfig, bucket: s3.Bucket) -> None:
        name = construct_id(job.name)
        if not job.dockerfile.is_file():
            raise FileNotFoundError(f"training job {job.name!r} needs {job.dockerfile}")
        image = ecr_assets.DockerImageAsset(
            self,
            f"{name}Image",
            directory=str(spec.REPO_ROOT),
            file=image_dockerfile(job.dockerfile),
            # SageMaker training instances (ml.m5.*) are x86_64.
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=IMAGE_CONTEXT_EXCLUDES,
        )
        role = self._execution_role(name, job, bucket)
        image.repository.grant_pull(role)
        train = tasks.SageMakerCreateTrainingJob(
            self,
            f"{name}Train",
            state_name=f"Train {job.name}",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=training_job_name_expression(config.stage, job),
            role=role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_ecr_repository(image.repository, image.image_tag),
                training_input_mode=tasks.InputMode.FILE,
            ),
            input_data_config=[
                tasks.Channel(
                    channel_name=channel,
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=PrefixLocation(bucket, prefix),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                        )
                    ),
                )
                for channel, prefix in sorted(job.channels.items())
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=PrefixLocation(bucket, job.output_prefix)
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=1,
                instance_type=ec2.InstanceType(job.instance_type.removeprefix("ml.")),
                volume_size=Size.gibibytes(job.volume_gb),
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(job.max_runtime_seconds)),
            environment={"SHELFWISE_STAGE": config.stage, "SHELFWISE_TRAINING_JOB": job.name},
            hyperparameters=config.training_hyperparameters.get(job.name) or None,
        )
        log_group = logs.LogGroup(
            self,
            f"{name}StateMachineLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.images[job.name] = image
        self.roles[job.name] = role
        self.state_machines[job.name] = sfn.StateMachine(
            self,
            f"{name}StateMachine",
            comment=job.description,
            definition_body=sfn.DefinitionBody.from_chainable(train),
            timeout=Duration.seconds(job.max_runtime_seconds + STATE_MACHINE_SLACK_SECONDS),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )

    def _execution_role(self, name: str, job: spec.TrainingJob, bucket: s3.Bucket) -> iam.Role:
        """What the training container may do: read its channels, write its output, log, pull its image."""
        role = iam.Role(
            self,
            f"{name}ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"shelfwise {job.name} training job",
        )
        prefixes = sorted(job.channels.values())
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{job.output_prefix}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[f"{SAGEMAKER_LOG_GROUP_ARN}", f"{SAGEMAKER_LOG_GROUP_ARN}:log-stream:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        return role
