"""What a finding is, beyond its fields: how severe, and how to recognise it again. Pure."""

from typing import Any

CATEGORIES = ("bug", "security", "performance", "style")
SEVERITIES = ("low", "medium", "high", "critical")  # least severe first
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def rank(finding: dict[str, Any]) -> int:
    return SEVERITY_RANK.get(finding.get("severity", "low"), 0)


def at_least(finding: dict[str, Any], severity: str) -> bool:
    return rank(finding) >= SEVERITY_RANK[severity]


def same_title(title: Any) -> str:
    """Titles compared the way a reader would: case and spacing don't make a new finding."""
    return " ".join(str(title).lower().split())
