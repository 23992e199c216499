"""Offline synthesis of the CDK app (asset bundling skipped) and lookups into the result."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii prints a banner on every import under Node 20 unless told not to.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import Stack
from aws_cdk.assertions import Template
from constructs import IConstruct
from shelfwise_infra import spec
from shelfwise_infra.application import BUNDLING_STACKS, build_app
from shelfwise_infra.stack import ShelfwiseStack

OFFLINE = {BUNDLING_STACKS: []}


@dataclass
class Synthesized:
    stack: ShelfwiseStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.to_json()["Resources"]

    def logical_id(self, construct: IConstruct) -> str:
        child = construct.node.default_child or construct
        return Stack.of(self.stack).resolve(Stack.of(self.stack).get_logical_id(child))  # type: ignore[arg-type]

    def resource(self, construct: IConstruct) -> dict[str, Any]:
        return self.resources[self.logical_id(construct)]

    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synthesized:
    app, stack = build_app({**OFFLINE, **(context or {})}, outdir=str(outdir))
    assembly = app.synth()
    template = Template.from_json(assembly.get_stack_by_name(stack.stack_name).template)
    return Synthesized(stack=stack, template=template, outdir=outdir)


@contextmanager
def functions_with_placeholders(root: Path) -> Iterator[Path]:
    """A copy of functions/ in which a spec function whose handler is not written yet gets a stand-in.

    Functions are built by different people at different times; the infrastructure tests check the wiring
    the spec describes, so they must not wait for every handler to exist.
    """
    directory = root / "functions"
    for fn in spec.FUNCTIONS:
        target = directory / fn.name
        if fn.directory.is_dir():
            shutil.copytree(fn.directory, target, ignore=shutil.ignore_patterns("__pycache__"))
        target.mkdir(parents=True, exist_ok=True)
        if fn.packaging == "zip" and not (target / "app.py").is_file():
            (target / "app.py").write_text("def handler(event, context):\n    return None\n")
    previous = spec.FUNCTIONS_DIR
    spec.FUNCTIONS_DIR = directory
    try:
        yield directory
    finally:
        spec.FUNCTIONS_DIR = previous
