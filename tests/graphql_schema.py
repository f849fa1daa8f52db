"""Check GraphQL documents and requests against GitHub's published schema.

The schema is tests/fixtures/github/graphql/schema.graphql; its README.md explains why it is
built with `assume_valid_sdl` and `assume_valid` (two upstream quirks). Building it takes a
second or two, so it is built once per process.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import requests
from graphql import (
    GraphQLError,
    GraphQLSchema,
    NoDeprecatedCustomRule,
    OperationDefinitionNode,
    build_schema,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values

from tests.fixtures import GITHUB_FIXTURES

SCHEMA_SDL = GITHUB_FIXTURES / "graphql" / "schema.graphql"
# Deprecated fields too: `databaseId` is scheduled for removal in favour of `fullDatabaseId`.
RULES = (*specified_rules, NoDeprecatedCustomRule)


@cache
def github_schema() -> GraphQLSchema:
    sdl = SCHEMA_SDL.read_text(encoding="utf-8")
    return build_schema(sdl, assume_valid_sdl=True, assume_valid=True)


def document_errors(document: str) -> list[str]:
    """Why GitHub would refuse this document; empty when it is valid."""
    try:
        ast = parse(document)
    except GraphQLError as exc:
        return [exc.message]
    return [error.message for error in validate(github_schema(), ast, RULES)]


def request_errors(body: dict[str, Any]) -> list[str]:
    """Why GitHub would refuse this JSON body of a POST /graphql; empty when it is valid."""
    if set(body) - {"query", "variables", "operationName"} or "query" not in body:
        return [f"a GraphQL request body has query and variables, not {sorted(body)}"]
    problems = document_errors(body["query"])
    if problems:
        return problems
    operation = get_operation_ast(parse(body["query"]), body.get("operationName"))
    if not isinstance(operation, OperationDefinitionNode):
        return ["the document has no single operation to run"]
    variables = body.get("variables") or {}
    definitions = operation.variable_definitions or ()
    declared = {node.variable.name.value for node in definitions}
    problems = [f"variable ${name} is not declared" for name in sorted(set(variables) - declared)]
    coerced = get_variable_values(github_schema(), definitions, variables)
    if isinstance(coerced, list):
        problems += [error.message for error in coerced]
    return problems


def assert_valid_graphql_request(request: requests.PreparedRequest) -> None:
    assert request.method == "POST", f"GraphQL is always a POST, not {request.method}"
    assert request.headers.get("Content-Type") == "application/json"
    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    problems = request_errors(json.loads(raw or "{}"))
    assert not problems, "the GraphQL request breaks GitHub's schema:\n  " + "\n  ".join(problems)
