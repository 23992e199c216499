"""The published file contracts are generated from the code that enforces them."""

from pathlib import Path

from shelfwise.ingest.contracts import contracts_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def test_contracts_doc_matches_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == contracts_markdown(), (
        "docs/contracts.md is stale: regenerate it with "
        "`python -c 'from shelfwise.ingest.contracts import contracts_markdown as m; print(m(), end=\"\")' "
        "> docs/contracts.md`"
    )
