"""Check what we send against GitHub's official REST description (fixtures openapi-rest-subset).

`assert_valid_request(responses.calls[i].request)` finds the operation by method and path
template, then validates path and query parameters and the JSON body against its schemas.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from openapi_schema_validator import OAS30Validator, OAS30WriteValidator, oas30_format_checker

from tests.fixtures import OPENAPI

# GitHub Enterprise Server serves the same API under this prefix.
GHE_PREFIX = "/api/v3"
# Some limits are only prose in the spec: per_page says "The number of results per page (max 100)".
_DESCRIBED_MAX = re.compile(r"\(max (\d+)\)")


@cache
def _spec() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        node = _spec()
        for part in pointer:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Path templates as regexes, most literal first so /issues/comments/{id} wins."""
    compiled = []
    for template in _spec()["paths"]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        # The contents API's {path} is a file path: GitHub takes its slashes as they are.
        pattern = pattern.replace("(?P<path>[^/]+)", "(?P<path>[^?#]+)")
        compiled.append((re.compile(pattern), template))
    return sorted(compiled, key=lambda pair: -len(re.sub(r"\{\w+\}", "", pair[1])))


def _with_components(schema: dict[str, Any]) -> dict[str, Any]:
    # The schemas' "#/components/..." refs resolve against the root of the schema we validate with.
    return {**schema, "components": _spec()["components"]}


def _closed(schema: Any) -> Any:
    """The schema with undeclared object properties refused.

    GitHub silently ignores unknown fields, so a typo such as `start_lin` would post a
    comment on the wrong lines instead of failing; here it fails the test. Composed schemas
    (allOf/anyOf/oneOf) and $refs are left open, where closing them would reject valid bodies.
    """
    if not isinstance(schema, dict) or any(k in schema for k in ("allOf", "anyOf", "oneOf")):
        return schema
    closed = dict(schema)
    if "properties" in closed:
        closed["properties"] = {k: _closed(v) for k, v in closed["properties"].items()}
        closed.setdefault("additionalProperties", False)
    if "items" in closed:
        closed["items"] = _closed(closed["items"])
    return closed


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Query and path values arrive as strings; read them as the schema's type."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw  # let the schema report the wrong type
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _schema_errors(validator_class: Any, schema: dict[str, Any], instance: Any) -> list[str]:
    validator = validator_class(_with_components(schema), format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [
        f"at {'/'.join(map(str, e.absolute_path))}: {e.message}" if e.absolute_path else e.message
        for e in errors
    ]


def _find_operation(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    for pattern, template in _templates():
        match = pattern.fullmatch(path)
        if not match:
            continue
        operation = _spec()["paths"][template].get(method.lower())
        if operation is None:
            raise AssertionError(f"{method} {path}: {template} has no {method} operation")
        return template, operation, match.groupdict()
    raise AssertionError(f"{method} {path}: no such path in GitHub's REST description")


def _parameter_errors(
    operation: dict[str, Any], path_values: dict[str, str], query: dict[str, list[str]]
) -> list[str]:
    declared = [_resolve(p) for p in operation.get("parameters", [])]
    by_location = {
        location: {p["name"]: p for p in declared if p["in"] == location}
        for location in ("path", "query")
    }
    problems = [
        f"query parameter {name!r} is not declared by the operation"
        for name in query
        if name not in by_location["query"]
    ]
    supplied = {"path": {k: [v] for k, v in path_values.items()}, "query": query}
    for location, parameters in by_location.items():
        for name, parameter in parameters.items():
            values = supplied[location].get(name)
            if not values:
                if parameter.get("required"):
                    problems.append(f"{location} parameter {name!r} is required")
                continue
            if len(values) > 1:
                problems.append(f"{location} parameter {name!r} is sent {len(values)} times")
            schema = dict(parameter.get("schema", {}))
            described = _DESCRIBED_MAX.search(parameter.get("description", ""))
            if described and "maximum" not in schema:
                schema["maximum"] = int(described.group(1))
            value = _coerce(values[0], schema)
            problems += [
                f"{location} parameter {name}={values[0]!r}: {error}"
                for error in _schema_errors(OAS30Validator, schema, value)
            ]
    return problems


def _body_errors(operation: dict[str, Any], request: requests.PreparedRequest) -> list[str]:
    body = request.body
    request_body = operation.get("requestBody")
    if request_body is None:
        return ["the operation takes no request body"] if body else []
    request_body = _resolve(request_body)
    if not body:
        return ["a request body is required"] if request_body.get("required") else []
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    media = request_body["content"].get(content_type)
    if media is None:
        return [f"Content-Type {content_type!r} is not one of {sorted(request_body['content'])}"]
    try:
        instance = json.loads(body)
    except ValueError as exc:
        return [f"the body is not JSON: {exc}"]
    # The write validator also rejects readOnly properties, which GitHub ignores or refuses.
    return [
        f"body: {error}"
        for error in _schema_errors(OAS30WriteValidator, _closed(media["schema"]), instance)
    ]


def assert_valid_request(request: requests.PreparedRequest, *, base_url: str | None = None) -> None:
    """Raise AssertionError unless GitHub's description accepts this request.

    Without `base_url`, a leading GitHub Enterprise `/api/v3` is stripped from the path.
    """
    assert request.method and request.url, "the request has no method or URL"
    url = urlsplit(request.url)
    path = url.path
    if base_url is not None:
        base = urlsplit(base_url.rstrip("/"))
        assert (url.scheme, url.netloc) == (base.scheme, base.netloc), (
            f"{request.url} is not under {base_url}"
        )
        assert path.startswith(base.path + "/"), f"{request.url} is not under {base_url}"
        path = path.removeprefix(base.path)
    elif path.startswith(GHE_PREFIX + "/"):
        path = path.removeprefix(GHE_PREFIX)

    template, operation, path_values = _find_operation(request.method, path)
    query = parse_qs(url.query, keep_blank_values=True)
    problems = _parameter_errors(operation, path_values, query) + _body_errors(operation, request)
    if problems:
        listing = "\n  ".join(problems)
        raise AssertionError(
            f"{request.method} {path} ({operation['operationId']}, {template}) "
            f"breaks GitHub's REST description:\n  {listing}"
        )
