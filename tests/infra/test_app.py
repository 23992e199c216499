"""The CDK app as a whole: spec-driven, guarded by cdk-nag, set by context, synthesizable by the CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from aws_cdk import aws_sqs as sqs
from cdk_synthesis import OFFLINE, functions_with_placeholders, synthesize
from shelfwise import settings
from shelfwise_infra import spec
from shelfwise_infra.application import build_app
from shelfwise_infra.config import StageConfig, validate
from shelfwise_infra.layers import (
    DEPENDENCY_LAYERS,
    LAYERS_DIR,
    NO_DEPS_REQUIREMENTS,
    requirement_names,
    trim_layer,
)

pytestmark = pytest.mark.infra


class Context(dict[str, object]):
    def try_get_context(self, key: str) -> object:
        return self.get(key)


def test_adding_a_function_route_and_schedule_to_the_spec_needs_no_cdk_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_function = spec.Function(
        name="replay", description="test", packaging="image", memory_mb=3008, timeout_seconds=900
    )
    extra_route = spec.Route("GET", "/v1/replays/{sku}", "replay")
    extra_schedule = spec.Schedule(
        name="nightly-replay",
        description="test",
        expression="rate(1 hour)",
        function="replay",
        detail={"job": "f"},
    )
    monkeypatch.setattr(spec, "FUNCTIONS", (*spec.FUNCTIONS, image_function))
    monkeypatch.setattr(spec, "ROUTES", (*spec.ROUTES, extra_route))
    monkeypatch.setattr(spec, "SCHEDULES", (*spec.SCHEDULES, extra_schedule))

    with functions_with_placeholders(tmp_path) as functions_dir:
        (functions_dir / "replay" / "Dockerfile").write_text("FROM public.ecr.aws/lambda/python:3.12-arm64\n")
        synthesized = synthesize(tmp_path / "cdk.out", {"stage": "staging"})

    replay = synthesized.resource(synthesized.stack.functions.functions["replay"])["Properties"]
    assert replay["PackageType"] == "Image" and replay["Architectures"] == ["arm64"]
    # Behind a route, so it also learns the allowed CORS origins (the local cloud's gateway handles those).
    assert set(replay["Environment"]["Variables"]) == {
        *spec.local_environment(image_function),
        settings.CORS_ALLOWED_ORIGINS_ENV,
    }
    assert "Layers" not in replay
    method = synthesized.stack.api.rest_api.root.resource_for_path(extra_route.path).node.find_child("GET")
    method_properties = synthesized.resource(method)["Properties"]
    assert method_properties["ApiKeyRequired"] is True
    # A new operations route gets the Cognito authorizer with its scope, without any CDK change.
    assert method_properties["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert method_properties["AuthorizationScopes"] == [extra_route.scope]
    rule = synthesized.resource(synthesized.stack.schedules.rules["nightly-replay"])["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["Name"] == "shelfwise-staging-nightly-replay"
    assert '"detail":{"job":"f"}' in str(rule["Targets"][0]["InputTransformer"]["InputTemplate"])
    (stage,) = synthesized.template.find_resources("AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "staging"


def test_an_unacknowledged_cdk_nag_finding_stops_synthesis(tmp_path: Path) -> None:
    with functions_with_placeholders(tmp_path):
        app, stack = build_app(dict(OFFLINE), outdir=str(tmp_path / "cdk.out"))
    sqs.Queue(stack, "Plaintext", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "cdk.out" / "validation-report.json").read_text()
    assert "AwsSolutions-SQS2" in report and "Plaintext" in report


def test_stage_settings_come_from_context() -> None:
    config = StageConfig.from_context(
        Context(
            stage="staging",
            account="123456789012",
            region="eu-west-1",
            api_rate_limit="20",
            alarm_email="a@b.c",
        )
    )
    assert (config.stage, config.account, config.region) == ("staging", "123456789012", "eu-west-1")
    assert config.api_rate_limit == 20.0 and config.alarm_email == "a@b.c"
    assert config.stack_name == "shelfwise-staging"
    assert StageConfig.from_context(Context()) == StageConfig()


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({"stage": "prod stage"}, "stage"),
        ({"api_rate_limit": "fast"}, "api_rate_limit"),
        ({"log_retention_days": "10"}, "log_retention_days"),
        ({"api_daily_quota": "0"}, "positive"),
    ],
)
def test_bad_context_is_refused_with_the_key_named(context: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        validate(StageConfig.from_context(Context(context)))


def test_dependency_layers_pin_the_same_versions_as_pyproject() -> None:
    pyproject = tomllib.loads((spec.REPO_ROOT / "pyproject.toml").read_text())
    runtime_pins = {
        re.split(r"[\[=]", pin)[0]: pin.split("==")[1] for pin in pyproject["project"]["dependencies"]
    }
    for layer in DEPENDENCY_LAYERS:
        no_deps = LAYERS_DIR / layer / NO_DEPS_REQUIREMENTS
        files = [LAYERS_DIR / layer / "requirements.txt", *([no_deps] if no_deps.exists() else [])]
        for requirement in (name for file in files for name in requirement_names(file)):
            name, _, version = requirement.partition("==")
            assert version, f"{layer}: {requirement} is not pinned exactly"
            assert runtime_pins[name.split("[")[0]] == version, (
                f"{layer}: {requirement} differs from pyproject"
            )


def test_the_forecast_image_pins_the_same_versions_as_pyproject() -> None:
    project = tomllib.loads((spec.REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {
        re.split(r"[\[=]", pin)[0]: pin.split("==")[1]
        for pin in [*project["dependencies"], *project["optional-dependencies"]["forecast"]]
    }
    requirements = requirement_names(spec.REPO_ROOT / "functions" / "forecast" / "requirements.txt")
    assert requirements, "the forecast image installs nothing"
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        assert pins[name.split("[")[0]] == version, f"{requirement} differs from pyproject"


def test_trimming_a_layer_drops_tests_headers_and_flight_but_keeps_what_imports_need(tmp_path: Path) -> None:
    kept = [
        "pyarrow/__init__.py",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libparquet.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pyarrow/_parquet.cpython-312-aarch64-linux-gnu.so",
        "numpy/testing/__init__.py",
        "onnxruntime/capi/onnxruntime_pybind11_state.so",
    ]
    dropped = [
        "bin/f2py",
        "numpy/_core/tests/test_api.py",
        "pyarrow/tests/test_io.py",
        "pyarrow/include/arrow/api.h",
        "pyarrow/lib.pyx",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/_flight.cpython-312-aarch64-linux-gnu.so",
        "pyarrow/libarrow_s3.so.2600",
        "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.2600.1.0",
        "numpy/__pycache__/version.cpython-312.pyc",
    ]
    for relative in kept + dropped:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")

    trim_layer(tmp_path)

    assert [path for path in kept if not (tmp_path / path).exists()] == []
    assert [path for path in dropped if (tmp_path / path).exists()] == []


CDK_CLI = spec.REPO_ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(
    not CDK_CLI.exists() or shutil.which("node") is None, reason="needs `npm ci` (make install)"
)
def test_the_cdk_cli_synthesizes_the_app_offline(tmp_path: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "CDK_CONTEXT_JSON"
    }
    environment["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "-c", "bundle_layers=false", "-o", str(tmp_path)],
        cwd=spec.REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "Shelfwise.template.json").is_file()
