"""Keys the platform generates for itself, one Secrets Manager secret per `spec.SECRETS` entry.

The pseudonym key (`spec.PSEUDONYM_KEY_SECRET`) keys the HMAC that turns customer ids into pseudonyms
(`shelfwise.privacy.pseudonyms`). Every stored pseudonym depends on it, so it is retained when the stack is
deleted (a new key would orphan all stored data) and rotated only by the procedure in docs/privacy.md
("Pseudonyms"), never automatically. Functions get `secretsmanager:GetSecretValue` on it only when the spec
lists it in their `secrets` (shelfwise_infra.functions).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shelfwise_infra import spec

# 64 letters and digits: about 380 bits, well above the 32 bytes `Pseudonymizer` requires.
PSEUDONYM_KEY_LENGTH = 64
DESCRIPTIONS = {
    spec.PSEUDONYM_KEY_SECRET.id: (
        "HMAC-SHA256 key of shelfwise customer pseudonyms; rotating it changes every pseudonym "
        "(procedure: docs/privacy.md, Pseudonyms)"
    ),
}


class Keys(Construct):
    """Every secret in `spec.SECRETS`, keyed by spec id."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {
            secret.id: secretsmanager.Secret(
                self,
                secret.id,
                description=DESCRIPTIONS[secret.id],
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=PSEUDONYM_KEY_LENGTH, exclude_punctuation=True, include_space=False
                ),
                removal_policy=RemovalPolicy.RETAIN,
            )
            for secret in spec.SECRETS
        }
