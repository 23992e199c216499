"""cdk-nag findings the design accepts, each acknowledged where it occurs, with the reason.

cdk-nag 3 acknowledges one finding id at a time (`AwsSolutions-IAM5[Action::s3:GetObject]`, no prefix
matching), so anything not listed here, including a new wildcard someone adds later, fails `cdk synth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

from shelfwise_infra import spec
from shelfwise_infra.api import is_public

if TYPE_CHECKING:
    from shelfwise_infra.stack import ShelfwiseStack

PACK = "AwsSolutions::AwsSolutions"

LATEST_RUNTIME = (
    "Python 3.12 on purpose: the Powertools public layer and the pip-built dependency layers are pinned to "
    "CPython 3.12; moving runtime is a deliberate upgrade of all of them together."
)
XRAY_WILDCARD = (
    "Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level "
    "permissions, so their resource must be '*'."
)
ECR_TOKEN_WILDCARD = (
    "Pulling the function's container image needs ecr:GetAuthorizationToken, which applies to the registry "
    "as a whole and only accepts resource '*'."
)
API_KEY_AUTH = (
    "Callers are storefronts and internal tools identified by API keys on a usage plan (quota and throttle "
    "per key); there are no end-user identities to authorize with Cognito or IAM at this stage."
)
PUBLIC_HEALTH = (
    "GET /v1/health is public on purpose: load balancers and uptime probes call it without a secret, and it "
    "returns no customer data."
)


def acknowledge(construct: IConstruct, *findings: tuple[str, str]) -> None:
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=f"{PACK}-{finding}", reason=reason) for finding, reason in findings)
    )


def acknowledge_findings(stack: ShelfwiseStack) -> None:
    for fn in spec.FUNCTIONS:
        role = stack.functions.roles[fn.name]
        if fn.packaging == "image":
            acknowledge(role, ("IAM5[Resource::*]", f"{XRAY_WILDCARD} {ECR_TOKEN_WILDCARD}"))
        else:
            acknowledge(stack.functions.functions[fn.name], ("L1", LATEST_RUNTIME))
            acknowledge(role, ("IAM5[Resource::*]", XRAY_WILDCARD))
        for bucket_id in (*fn.reads, *fn.writes):
            if bucket_id in stack.storage.buckets:
                logical_id = Stack.of(stack).resolve(stack.storage.buckets[bucket_id].bucket_arn)[
                    "Fn::GetAtt"
                ][0]
                acknowledge(
                    role,
                    (
                        f"IAM5[Resource::<{logical_id}.Arn>/*]",
                        f"Object-level S3 actions need an object ARN; {fn.name} works on many objects of the "
                        "one data bucket whose keys it derives at run time (upstream file names, dates).",
                    ),
                )

    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            acknowledge(
                child,
                (
                    "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                    "CDK's own handler that configures the bucket's S3 event notifications at deploy "
                    "time; it only needs to write its logs, which this managed policy grants.",
                ),
            )

    api = stack.api.rest_api
    acknowledge(
        api,
        (
            "APIG2",
            "Requests are validated by the handlers with pydantic models, which answer bad input with the "
            "platform's 4xx error body naming the field; API Gateway validators answer in another shape.",
        ),
        (
            "APIG3",
            "Stage and per-key throttling and quotas guard the API; a WAF web ACL is an account-level choice "
            "(and cost) left to the deploying team, attachable without code changes.",
        ),
    )
    acknowledge(
        api.node.find_child("CloudWatchRole"),
        (
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway needs to write execution logs; AWS documents this managed "
            "policy as the way to grant it.",
        ),
    )
    for route in spec.ROUTES:
        method = api.root.resource_for_path(route.path).node.find_child(route.method)
        reason = PUBLIC_HEALTH if is_public(route) else API_KEY_AUTH
        acknowledge(method, ("APIG4", reason), ("COG4", reason))
