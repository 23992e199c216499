"""The platform definition (`spec`) and the CDK app that deploys it into AWS.

Commands (from the repository root, after `make install`):

    npx cdk synth                         # template + built layers (first run fetches wheels from PyPI)
    npx cdk synth -c bundle_layers=false  # template only, fully offline; do not deploy this assembly
    npx cdk deploy -c stage=prod -c alarm_email=ops@example.com

Context keys (all optional) are listed in `shelfwise_infra.config`. The app never needs AWS credentials to
synthesize: without `account`/`region` context the stack is environment-agnostic.
"""
