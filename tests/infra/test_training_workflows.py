"""Training jobs and workflows in the CDK app: images, roles, state machines, alarms, against the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_synthesis import Synthesized
from shelfwise_infra import spec
from test_stack import DEFAULTS

pytestmark = pytest.mark.infra


def definition_of(synthesized: Synthesized, machine: Any) -> dict[str, Any]:
    """The state machine's ASL, with CloudFormation references replaced by `<ref>`."""
    definition = synthesized.resource(machine)["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        _, parts = definition["Fn::Join"]
        definition = "".join(part if isinstance(part, str) else "<ref>" for part in parts)
    return json.loads(definition)


def role_statements(synthesized: Synthesized, role: Any) -> list[dict[str, Any]]:
    role_id = synthesized.logical_id(role)
    return [
        statement
        for resource in synthesized.resources.values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def docker_assets(synthesized: Synthesized) -> list[dict[str, Any]]:
    manifest = json.loads((synthesized.outdir / "Shelfwise.assets.json").read_text())
    return [image["source"] for image in manifest["dockerImages"].values()]


def test_each_training_job_runs_sagemaker_with_the_spec_channels_output_and_resources(
    synthesized: Synthesized,
) -> None:
    for job in spec.TRAINING_JOBS:
        (state,) = definition_of(synthesized, synthesized.stack.training_jobs.state_machines[job.name])[
            "States"
        ].values()
        assert state["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
        parameters = state["Parameters"]
        channels = {
            channel["ChannelName"]: channel["DataSource"]["S3DataSource"]
            for channel in parameters["InputDataConfig"]
        }
        assert set(channels) == set(job.channels)
        for name, prefix in job.channels.items():
            assert channels[name]["S3DataType"] == "S3Prefix"
            assert channels[name]["S3Uri"] == f"s3://<ref>/{prefix}"
        assert parameters["OutputDataConfig"]["S3OutputPath"] == f"s3://<ref>/{job.output_prefix}"
        assert parameters["ResourceConfig"] == {
            "InstanceCount": 1,
            "InstanceType": job.instance_type,
            "VolumeSizeInGB": job.volume_gb,
        }
        assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": job.max_runtime_seconds}
        name_expression = parameters["TrainingJobName.$"]
        assert name_expression.startswith(f"States.Format('{DEFAULTS.stage}-{job.name}-")
        assert "$$.Execution.StartTime" in name_expression


def test_training_role_reads_only_its_channels_and_writes_only_its_output_prefix(
    synthesized: Synthesized,
) -> None:
    bucket_id = synthesized.logical_id(synthesized.stack.storage.buckets[spec.DATA_BUCKET.id])
    for job in spec.TRAINING_JOBS:
        role = synthesized.stack.training_jobs.roles[job.name]
        assert synthesized.resource(role)["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
            "Principal"
        ] == {"Service": "sagemaker.amazonaws.com"}
        statements = role_statements(synthesized, role)
        bucket_statements = [s for s in statements if bucket_id in json.dumps(s["Resource"])]
        granted: dict[str, set[str]] = {}
        for statement in bucket_statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                assert not action.endswith("*"), action
                granted.setdefault(action, set()).update(json.dumps(resource) for resource in resources)
        assert set(granted) == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}
        readable = " ".join(granted["s3:GetObject"])
        writable = " ".join(granted["s3:PutObject"])
        assert all(f"/{prefix}*" in readable for prefix in job.channels.values())
        assert f"/{job.output_prefix}*" in writable and "curated/" not in writable
        pulls = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
        assert pulls and all(":ecr:" in json.dumps(s["Resource"]) for s in pulls)


def test_images_build_from_the_repository_root_with_their_own_dockerfile_and_a_small_context(
    synthesized: Synthesized,
) -> None:
    sources = docker_assets(synthesized)
    by_dockerfile = {source["dockerFile"]: source for source in sources}
    for job in spec.TRAINING_JOBS:
        source = by_dockerfile[f"{job.directory}/Dockerfile"]
        assert source["platform"] == "linux/amd64"
        context = synthesized.outdir / source["directory"]
        assert (context / "layers" / "domain" / "python" / "shelfwise").is_dir()
        assert (context / job.directory / "train.py").is_file()
        for left_out in (".venv", "node_modules", "tests", ".git", "cdk.out", "benchmarks"):
            assert not (context / left_out).exists(), left_out
    (forecast,) = [s for s in sources if s["dockerFile"].endswith("functions/forecast/Dockerfile")]
    assert forecast["platform"] == "linux/arm64"


def test_workflow_plans_maps_shards_with_retries_and_catches_then_finalizes(synthesized: Synthesized) -> None:
    for workflow in spec.WORKFLOWS:
        definition = definition_of(synthesized, synthesized.stack.workflows.state_machines[workflow.name])
        states = definition["States"]
        assert definition["StartAt"] == "Plan"
        plan, shards, finalize = states["Plan"], states["Shards"], states["Finalize"]
        assert plan["Parameters"] == {
            "step": "plan",
            "run_id.$": "$$.Execution.Name",
            "scheduled_event.$": "$",
        }
        assert plan["Next"] == "Shards" and shards["Next"] == "Finalize"
        assert shards["Type"] == "Map" and shards["ItemsPath"] == "$.plan.shards"
        assert shards["MaxConcurrency"] == workflow.max_concurrency
        assert shards["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        inner = shards["ItemProcessor"]["States"]
        shard = inner["Shard"]
        assert shard["Parameters"] == {
            "step": "shard",
            "run_id.$": "$.run_id",
            "shard.$": "$.shard",
        }
        (retry,) = shard["Retry"]
        assert retry["ErrorEquals"] == ["States.ALL"] and retry["MaxAttempts"] == workflow.shard_retries
        (catch,) = shard["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "Shard failed"
        assert inner["Shard failed"]["Parameters"] == {"shard.$": "$.shard", "error.$": "$.failure.Cause"}
        assert finalize["Parameters"] == {
            "step": "finalize",
            "run_id.$": "$$.Execution.Name",
            "plan.$": "$.plan",
            "results.$": "$.results",
        }
        function_id = synthesized.logical_id(synthesized.stack.functions.functions[workflow.function])
        assert function_id in json.dumps(
            synthesized.resource(synthesized.stack.workflows.state_machines[workflow.name])
        )


def test_state_machines_are_traced_logged_and_alarmed_on_failure(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    machines = [*stack.training_jobs.state_machines.values(), *stack.workflows.state_machines.values()]
    assert len(machines) == len(spec.TRAINING_JOBS) + len(spec.WORKFLOWS)
    for machine in machines:
        properties = synthesized.resource(machine)["Properties"]
        assert properties["TracingConfiguration"] == {"Enabled": True}
        assert properties["LoggingConfiguration"]["Level"] == "ALL"
        synthesized.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": "ExecutionsFailed",
                "Namespace": "AWS/States",
                "Dimensions": [
                    {"Name": "StateMachineArn", "Value": {"Ref": synthesized.logical_id(machine)}}
                ],
            },
        )


def test_the_image_function_has_no_layers(synthesized: Synthesized) -> None:
    for fn in spec.FUNCTIONS:
        properties = synthesized.resource(synthesized.stack.functions.functions[fn.name])["Properties"]
        assert ("Layers" in properties) == (fn.packaging == "zip"), fn.name
