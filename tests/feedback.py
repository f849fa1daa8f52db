"""Stored review feedback for tests of the API, the admin and the commands."""

from typing import Any


def finding(**fields: Any) -> dict[str, Any]:
    """One finding as the pipeline stores it; override any field."""
    return {
        "path": "src/app.py",
        "line": 10,
        "end_line": None,
        "category": "bug",
        "severity": "medium",
        "title": "Possible None dereference",
        "body": "`user` may be None here.",
        "suggestion": None,
        "anchored": True,
        **fields,
    }


def feedback(*findings: dict[str, Any], **parts: Any) -> dict[str, Any]:
    """A completed review's feedback holding `findings`."""
    return {
        "summary": "Two small problems.",
        "findings": list(findings),
        "coverage": {
            "files_total": 3,
            "files_reviewed": 2,
            "lines_total": 120,
            "lines_reviewed": 100,
            "skipped": [{"path": "poetry.lock", "reason": "lockfile", "lines": 20}],
        },
        "usage": {
            "model": "openai/gpt-4o-mini",
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "cost": 0.0021,
            "calls": 1,
        },
        "timings": {"fetch": 0.4, "parse": 0.01, "llm": 7.5},
        **parts,
    }
