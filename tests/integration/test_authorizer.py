"""The shopper routes' authorizer, attacked: forged, expired, confused and garbage tokens never get in."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto_platform import local_platform
from shelfwise import settings as shelfwise_settings
from shelfwise.auth import Principal
from shelfwise_infra import spec
from shelfwise_local.functions import context_for, forget_loaded_functions, load_handler
from shelfwise_local.tokens import DevKeys, put_signing_keys

pytestmark = pytest.mark.integration

AUTHORIZER = spec.function(spec.AUTHORIZER_FUNCTION)
SAMPLE = json.loads((spec.EVENTS_DIR / "authorizer" / "request-customer.json").read_text("utf-8"))


def request(authorization: str | None) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLE)
    event["headers"].pop("Authorization", None)
    event["multiValueHeaders"].pop("Authorization", None)
    if authorization is not None:
        event["headers"]["authorization"] = authorization  # header names arrive in any case
    return event


def authorize(authorization: str | None) -> dict[str, Any]:
    return load_handler(AUTHORIZER.name)(request(authorization), context_for(AUTHORIZER))


def refused(authorization: str | None) -> bool:
    try:
        authorize(authorization)
    except Exception as error:
        assert str(error) == "Unauthorized"  # the one message API Gateway turns into a 401
        return True
    return False


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DevKeys]:
    forget_loaded_functions()
    with local_platform(monkeypatch, AUTHORIZER.name):
        keys = DevKeys.load_or_create(tmp_path)
        put_signing_keys(boto3.client("secretsmanager"), keys)
        yield keys
    forget_loaded_functions()


def test_a_customer_token_is_allowed_with_its_subject_in_the_context(keys: DevKeys) -> None:
    policy = authorize(f"Bearer {keys.customer_token('u12')}")
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"][0].startswith("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/")
    context = {"requestContext": {"authorizer": policy["context"]}}
    assert Principal.from_request_context(context["requestContext"]) == Principal("customer", "u12")


def test_an_operator_access_token_carries_its_scopes(keys: DevKeys) -> None:
    policy = authorize(f"Bearer {keys.operator_token(('shelfwise/server',))}")
    principal = Principal.from_request_context({"authorizer": policy["context"]})
    assert principal is not None and principal.kind == "operator" and principal.may_act_for("anyone")


def test_forged_expired_and_confused_tokens_are_refused(keys: DevKeys, tmp_path: Path) -> None:
    now = int(time.time())
    other_keys = DevKeys.load_or_create(tmp_path / "elsewhere")
    claims = {
        "sub": "u12",
        "iss": spec.LOCAL_CUSTOMER_TOKEN_ISSUER,
        "aud": spec.LOCAL_CUSTOMER_TOKEN_AUDIENCE,
    }
    attempts = {
        "no header": None,
        "empty bearer": "Bearer ",
        "basic auth": "Basic dTEyOnNlY3JldA==",
        "not a jwt": "Bearer hello",
        "another shop's key": f"Bearer {other_keys.customer_token('u12')}",
        "expired": f"Bearer {keys.customer_token('u12', ttl_seconds=-3600)}",
        "no expiry": f"Bearer {jwt.encode(claims, keys.customer, algorithm='HS256')}",
        "unsigned (alg none)": f"Bearer {jwt.encode({**claims, 'exp': now + 60}, None, algorithm='none')}",
        "wrong audience": "Bearer "
        + jwt.encode({**claims, "aud": "someone-else", "exp": now + 60}, keys.customer, algorithm="HS256"),
        "wrong issuer": "Bearer "
        + jwt.encode({**claims, "iss": "evil", "exp": now + 60}, keys.customer, algorithm="HS256"),
        "customer token signed with the operator key": "Bearer "
        + jwt.encode({**claims, "exp": now + 60}, keys.operator, algorithm="HS256"),
        "operator claims signed with the customer key": "Bearer "
        + jwt.encode(
            {
                "sub": "x",
                "client_id": "x",
                "token_use": "access",
                "scope": "shelfwise/server",
                "exp": now + 60,
            },
            keys.customer,
            algorithm="HS256",
        ),
        "control characters in the subject": "Bearer "
        + jwt.encode({**claims, "sub": "u12\n", "exp": now + 60}, keys.customer, algorithm="HS256"),
    }
    let_through = [name for name, header in attempts.items() if not refused(header)]
    assert let_through == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.one_of(st.text(max_size=300), st.from_regex(r"Bearer [A-Za-z0-9_\-=.]{0,200}", fullmatch=True))
)
def test_no_header_value_gets_past_or_crashes_the_authorizer(keys: DevKeys, header: str) -> None:
    assert refused(header)


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """What an attacker builds when libraries refuse to: HMAC over the token with any bytes as the key."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


class JwksServer:
    """The retailer's identity provider publishing its public key as JWKS, on localhost."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": "shop-2026", "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"

    def token(self, subject: str, **extra: Any) -> str:
        claims = {"sub": subject, "iss": "https://shop.example.com", "exp": int(time.time()) + 300, **extra}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": "shop-2026"})


@pytest.fixture
def jwks(monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    server = JwksServer()
    forget_loaded_functions()
    with local_platform(
        monkeypatch,
        AUTHORIZER.name,
        **{
            shelfwise_settings.CUSTOMER_TOKEN_JWKS_URL_ENV: server.url,
            shelfwise_settings.CUSTOMER_TOKEN_ISSUER_ENV: "https://shop.example.com",
            shelfwise_settings.CUSTOMER_TOKEN_AUDIENCE_ENV: "",
        },
    ):
        yield server
    forget_loaded_functions()
    server.server.shutdown()


def test_a_retailer_publishing_jwks_signs_its_own_customer_tokens(jwks: JwksServer) -> None:
    policy = authorize(f"Bearer {jwks.token('c-77')}")
    assert policy["context"]["subject"] == "c-77"
    # The classic confusion: HS256 "signed" with the public key must not pass as the retailer's RS256.
    public_pem = jwks.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = hs256_by_hand(
        {"alg": "HS256", "typ": "JWT", "kid": "shop-2026"},
        {"sub": "c-77", "iss": "https://shop.example.com", "exp": int(time.time()) + 300},
        public_pem,
    )
    assert refused(f"Bearer {confused}")
    stranger = JwksServer()
    assert refused(f"Bearer {stranger.token('c-77')}")
    stranger.server.shutdown()
