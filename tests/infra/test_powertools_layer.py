"""The Powertools the functions run on in AWS is the Powertools the tests run against.

The zip functions get AWS's public Powertools layer; the forecast image installs Powertools from its own
requirements file. Both must be the release pyproject.toml pins, which is what `pip install -e .[dev]` puts
under every test.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from typing import Any

import pytest
from cdk_synthesis import Synthesized
from shelfwise_infra import spec
from shelfwise_infra.config import StageConfig
from shelfwise_infra.layers import ARCHITECTURE, RUNTIME, requirement_names

pytestmark = pytest.mark.infra


class Context(dict[str, object]):
    def try_get_context(self, key: str) -> object:
        return self.get(key)


def pyproject_powertools_pin() -> str:
    pyproject = tomllib.loads((spec.REPO_ROOT / "pyproject.toml").read_text())
    pins = [
        match.group(1)
        for requirement in pyproject["project"]["dependencies"]
        if (match := re.fullmatch(r"aws-lambda-powertools(?:\[[a-z,]+\])?==([0-9.]+)", requirement))
    ]
    assert len(pins) == 1, f"pyproject.toml must pin aws-lambda-powertools exactly once, found {pins}"
    return pins[0]


def powertools_layer_of_every_zip_function(synthesized: Synthesized) -> list[Any]:
    stack = synthesized.stack
    return [
        synthesized.resource(stack.functions.functions[fn.name])["Properties"]["Layers"][0]
        for fn in spec.FUNCTIONS
        if fn.packaging == "zip"
    ]


def test_every_zip_function_deploys_the_powertools_layer_of_the_pinned_release(
    synthesized: Synthesized,
) -> None:
    pinned = pyproject_powertools_pin()
    layers = powertools_layer_of_every_zip_function(synthesized)
    assert layers, "no zip function in the spec"
    # One layer for all; its ARN is a template parameter CloudFormation resolves from AWS's public SSM
    # parameter of that exact release, for the functions' architecture and Python version.
    assert all(layer == layers[0] for layer in layers)
    parameter = synthesized.template.to_json()["Parameters"][layers[0]["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    architecture = ARCHITECTURE.name  # arm64
    python = RUNTIME.name  # python3.12
    assert parameter["Default"] == f"/aws/service/powertools/python/{architecture}/{python}/{pinned}"


def test_the_tests_run_against_the_pinned_powertools_and_the_forecast_image_installs_it_too() -> None:
    pinned = pyproject_powertools_pin()
    assert metadata.version("aws-lambda-powertools") == pinned, (
        "the installed Powertools differs from pyproject.toml: run `make install`"
    )
    image_pins = [
        requirement.partition("==")[2]
        for requirement in requirement_names(spec.REPO_ROOT / "functions" / "forecast" / "requirements.txt")
        if requirement.startswith("aws-lambda-powertools")
    ]
    assert image_pins == [pinned]


def test_the_removed_layer_number_setting_is_refused_rather_than_ignored() -> None:
    with pytest.raises(ValueError, match=r"pinned in pyproject\.toml"):
        StageConfig.from_context(Context({"powertools_layer_version": "38"}))
