"""What the model must answer, and how its answer is read: the findings schema and a
lenient but strict-where-it-matters parser. Pure."""

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from reviews.results import CATEGORIES, SEVERITIES, Finding

# Strict structured outputs need every property required and no extra keys; optional values
# are spelled as a null type instead.
_FINDING_PROPERTIES = {
    "path": {"type": "string"},
    "line": {"type": "integer"},
    "end_line": {"type": ["integer", "null"]},
    "category": {"type": "string", "enum": list(CATEGORIES)},
    "severity": {"type": "string", "enum": list(reversed(SEVERITIES))},
    "title": {"type": "string"},
    "body": {"type": "string"},
    "suggestion": {"type": ["string", "null"]},
}
FINDINGS_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": _FINDING_PROPERTIES,
                "required": list(_FINDING_PROPERTIES),
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "findings"],
    "additionalProperties": False,
}
_VALIDATOR = Draft202012Validator(FINDINGS_SCHEMA)


class InvalidOutput(Exception):
    """The model's answer is not usable review JSON; `repair_request` tells the model why."""

    def __init__(self, message: str, repair_request: str):
        super().__init__(message)
        self.repair_request = repair_request


_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)\n\s*```", re.DOTALL | re.IGNORECASE)


def parse_review(text: str, *, truncated: bool = False) -> tuple[str, list[Finding]]:
    """The summary and findings in a model's answer; raises InvalidOutput."""
    if truncated:
        raise InvalidOutput(
            "the answer was truncated at the output token limit",
            "Your answer was cut off because it was too long. Reply again with the JSON "
            "object only, a shorter summary and fewer findings: only the most important "
            "ones, each with a brief body.",
        )
    data = _normalise(_extract_json(text))
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top level)'}: {error.message[:200]}"
        for error in sorted(
            _VALIDATOR.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]
        )
    ]
    if problems:
        reason = "; ".join(problems[:5])
        raise InvalidOutput(
            f"the answer does not match the schema: {reason}",
            f"Your answer does not match the required JSON schema: {reason}. Reply again "
            "with only the corrected JSON object, no prose and no code fences.",
        )
    findings = [Finding.from_json(item) for item in data["findings"]]
    return data["summary"], [finding for finding in findings if finding]


def _extract_json(text: str) -> Any:
    text = _THINKING.sub("", text).strip()
    candidates = [text, *_FENCED.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise InvalidOutput(
        "the answer is not JSON",
        "Your answer was not a JSON object. Reply again with only the JSON object described "
        "in your instructions, no prose and no code fences.",
    )


def _normalise(data: Any) -> Any:
    """Fix what is harmless to fix (case, omitted optional keys, extra keys); leave wrong types
    for the validator to report."""
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return data
    data = {key: data[key] for key in ("summary", "findings") if key in data}
    data["findings"] = [_normalise_finding(f) for f in data["findings"]]
    return data


def _normalise_finding(finding: Any) -> Any:
    if not isinstance(finding, dict):
        return finding
    finding = {key: value for key, value in finding.items() if key in _FINDING_PROPERTIES}
    finding.setdefault("end_line", None)
    finding.setdefault("suggestion", None)
    for key in ("category", "severity"):
        if isinstance(finding.get(key), str):
            finding[key] = finding[key].strip().lower()
    for key in ("line", "end_line"):
        if isinstance(finding.get(key), float) and finding[key].is_integer():
            finding[key] = int(finding[key])
    return finding
