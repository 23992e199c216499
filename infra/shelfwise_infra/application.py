"""Builds the CDK app: the stack for one stage, checked by cdk-nag's AWS Solutions rules."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from shelfwise_infra.acknowledgements import acknowledge_findings
from shelfwise_infra.config import StageConfig, validate
from shelfwise_infra.stack import ShelfwiseStack

# Context key CDK reads to decide which stacks bundle their assets (an empty list: none).
BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, ShelfwiseStack]:
    app = App(context=context, outdir=outdir)
    if str(app.node.try_get_context("bundle_layers")).lower() == "false":
        # CDK's own switch for skipping asset bundling (what `cdk ls` uses): the template is complete, but
        # the dependency layers are not built, so such an assembly must not be deployed.
        app.node.set_context(BUNDLING_STACKS, [])
    config = validate(StageConfig.from_context(app.node))
    env = (
        Environment(account=config.account, region=config.region) if config.account or config.region else None
    )
    stack = ShelfwiseStack(app, "Shelfwise", config=config, stack_name=config.stack_name, env=env)
    # Findings that are deliberate are acknowledged, each with its reason; anything else fails synthesis.
    acknowledge_findings(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
