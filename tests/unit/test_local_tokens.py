"""`shelfwise token`: development credentials for the local cloud, printed alone so `$(...)` can take them."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest
from shelfwise_infra import spec
from shelfwise_local.cli import main
from shelfwise_local.tokens import KEYS_DIR, DevKeys


def printed_token(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    output = capsys.readouterr().out
    assert output.count("\n") == 1
    return output.strip()


def test_a_customer_token_names_the_customer_and_verifies_with_the_state_dirs_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = printed_token(capsys, "token", "customer", "C123", "--state-dir", str(tmp_path))
    key = DevKeys.load_or_create(tmp_path).customer
    claims = jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        audience=spec.LOCAL_CUSTOMER_TOKEN_AUDIENCE,
        issuer=spec.LOCAL_CUSTOMER_TOKEN_ISSUER,
    )
    assert claims["sub"] == "C123" and claims["exp"] > claims["iat"]
    for key_file in (tmp_path / KEYS_DIR).iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file


def test_an_operator_token_has_the_asked_scopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = printed_token(capsys, "token", "ops", "--scope", "shelfwise/read", "--state-dir", str(tmp_path))
    claims = jwt.decode(token, DevKeys.load_or_create(tmp_path).operator, algorithms=["HS256"])
    assert claims["scope"] == "shelfwise/read" and claims["token_use"] == "access"


def test_mistakes_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "customer", "--state-dir", str(tmp_path)]) == 2
    assert main(["token", "ops", "--scope", "admin", "--state-dir", str(tmp_path)]) == 2
    assert "unknown scope admin" in capsys.readouterr().err


def test_keys_are_kept_across_calls(tmp_path: Path) -> None:
    assert DevKeys.load_or_create(tmp_path) == DevKeys.load_or_create(tmp_path)
