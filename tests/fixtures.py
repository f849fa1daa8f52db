"""Paths to the shared real GitHub data (../shared/fixtures/github from the repository root)."""

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
GITHUB_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "github"
PAYLOADS = GITHUB_FIXTURES / "payloads"
DIFFS = GITHUB_FIXTURES / "diffs"
RESPONSES = GITHUB_FIXTURES / "responses"
OPENAPI = GITHUB_FIXTURES / "openapi-rest-subset.json"


def payload_bytes(name: str) -> bytes:
    """A webhook body as GitHub sends it: compact JSON (FACTS.md W9)."""
    data = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def github_response(name: str) -> Any:
    return json.loads((RESPONSES / name).read_text(encoding="utf-8"))


def diff_text(name: str) -> str:
    return (DIFFS / f"{name}.diff").read_text(encoding="utf-8")


def diff_expected(name: str) -> dict[str, Any]:
    return json.loads((DIFFS / f"{name}.expected.json").read_text(encoding="utf-8"))


def diff_names() -> list[str]:
    return sorted(p.stem for p in DIFFS.glob("*.diff"))
