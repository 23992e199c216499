"""CDK entry point (`npx cdk synth`, `npx cdk deploy`); see shelfwise_infra.config for the context keys."""

from __future__ import annotations

from shelfwise_infra.application import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
