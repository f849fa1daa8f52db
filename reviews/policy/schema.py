"""Version 1 of the policy file's schema, and parsing the file against it. Pure.

Errors name the key path (`review.skip.authors[0]`), the value as written and its line, read
from the YAML nodes' marks, so the author finds the mistake without guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from reviews.results import CATEGORIES, SEVERITIES

POLICY_PATHS = (".github/prism.yml", ".prism.yml")  # read in this order; the first found wins
MAX_FILE_BYTES = 64 * 1024
MAX_INSTRUCTIONS_CHARS = 2_000
MAX_PATH_RULES = 20
ON_PUSH = ("incremental", "full", "off")

_STRINGS = {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1}}
_REGEXES = {"type": "array", "maxItems": 100, "items": {"type": "string", "format": "regex"}}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/prism-review/prism/blob/main/docs/prism-policy.schema.json",
    "title": "Prism repository policy (.github/prism.yml), version 1",
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "properties": {
        "version": {"const": 1, "description": "Schema version; only 1 exists."},
        "enabled": {"type": "boolean", "description": "false: Prism reviews nothing here."},
        "review": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "drafts": {"type": "boolean", "description": "Review draft pull requests."},
                "base_branches": {
                    **_STRINGS,
                    "description": "Review only pull requests into these branches (globs).",
                },
                "skip": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "titles": {**_REGEXES, "description": "Title regexes that skip."},
                        "authors": {**_STRINGS, "description": "Logins whose PRs are skipped."},
                        "labels": {**_STRINGS, "description": "Labels that skip a review."},
                    },
                },
                "on_push": {"enum": list(ON_PUSH)},
            },
        },
        "ignore_paths": {**_STRINGS, "description": "Globs added to the operator's IGNORE_PATHS."},
        "instructions": {"type": "string", "maxLength": MAX_INSTRUCTIONS_CHARS},
        "path_instructions": {
            "type": "array",
            "maxItems": MAX_PATH_RULES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "instructions"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "instructions": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_INSTRUCTIONS_CHARS,
                    },
                },
            },
        },
        "categories": {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: {"type": "boolean"} for name in CATEGORIES},
        },
        "inline_min_severity": {"enum": list(SEVERITIES)},
        "max_inline_comments": {"type": "integer", "minimum": 0, "maximum": 100},
        "fail_on_severity": {"enum": ["never", *SEVERITIES]},
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}


class _Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true and false. YAML 1.1 also reads yes, no, on and off as
    booleans, so `on_push: off` would arrive as False and be refused as not a choice."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


@dataclass(frozen=True)
class PolicyError:
    """One problem with the file: where (a key path such as `review.skip.authors[0]`), the
    offending value as written, and the line, so the author can find it."""

    key: str
    value: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        key = f"`{self.key}`" if self.key else "the file"
        value = f" = {self.value}" if self.value else ""
        return f"{where}{key}{value}: {self.message}"


class PolicyInvalid(ValueError):
    def __init__(self, errors: Sequence[PolicyError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


def parse(text: str | bytes) -> dict[str, Any]:
    """The policy file's content as validated data; PolicyInvalid lists every error found."""
    if len(text) > MAX_FILE_BYTES:
        raise PolicyInvalid([PolicyError("", "", None, f"larger than {MAX_FILE_BYTES:,} bytes")])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyInvalid([PolicyError("", "", None, "not UTF-8 text")]) from exc
    try:
        root = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        line = mark.line + 1 if mark is not None else None
        raise PolicyInvalid([PolicyError("", "", line, f"not valid YAML: {problem}")]) from exc
    if root is None:
        raise PolicyInvalid([PolicyError("", "", 1, "the file is empty")])
    lines: dict[tuple[Any, ...], int] = {}
    errors = list(_walk(root, (), lines))
    if errors:
        raise PolicyInvalid(errors)
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    errors = [
        error
        for found in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.path)))
        for error in _explain(found, lines)
    ]
    if errors:
        raise PolicyInvalid(sorted(errors, key=lambda e: (e.line or 0, e.key)))
    assert isinstance(data, dict)  # the schema's "type": "object"
    return data


def _compose(text: str) -> yaml.Node | None:
    # Aliases would let a small file expand into a huge document (a "billion laughs"):
    # a policy has no use for them, so they are refused before anything is built.
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            error = PolicyError("", "", line, "anchors and aliases are not allowed")
            raise PolicyInvalid([error])
    return yaml.compose(text, Loader=_Loader)


def _walk(
    node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]
) -> Iterator[PolicyError]:
    """Record each key path's line; a key written twice is an error (YAML keeps the last
    silently, and a rule the author thinks is in force would not be)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            if name in seen:
                yield PolicyError(_key((*path, name)), "", key.start_mark.line + 1, "written twice")
            seen.add(name)
            lines[(*path, name, "<key>")] = key.start_mark.line + 1
            yield from _walk(value, (*path, name), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index), lines)


def _explain(
    error: jsonschema.ValidationError, lines: dict[tuple[Any, ...], int]
) -> list[PolicyError]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = set(schema.get("properties", {}))
        return [
            PolicyError(
                _key((*path, name)),
                _show(error.instance[name]),
                lines.get((*path, name, "<key>")),
                f"unknown key (allowed here: {', '.join(sorted(allowed))})",
            )
            for name in sorted(set(error.instance) - allowed, key=str)
        ]
    if error.validator == "required":
        return [PolicyError(_key(path), "", lines.get(path), error.message)]
    line = lines.get(path)
    value = "" if isinstance(error.instance, dict | list) else _show(error.instance)
    message = _MESSAGES.get(str(error.validator), lambda e: e.message)(error)
    if error.validator in ("maxLength", "maxItems"):
        value = _show(error.instance)
    return [PolicyError(_key(path), value, line, message)]


_MESSAGES: dict[str, Any] = {
    "maxLength": lambda e: f"longer than {e.validator_value:,} characters ({len(e.instance):,})",
    "maxItems": lambda e: f"more than {e.validator_value} items ({len(e.instance)})",
    "minLength": lambda e: "must not be empty",
    "format": lambda e: "not a valid regular expression",
    "const": lambda e: "only version 1 exists",
    "enum": lambda e: f"must be one of {', '.join(map(str, e.validator_value))}",
}


def _key(path: Sequence[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
