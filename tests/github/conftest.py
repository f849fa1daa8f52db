import pytest
from graphql import GraphQLSchema

from tests.graphql_schema import github_schema


@pytest.fixture(scope="session")
def graphql_schema() -> GraphQLSchema:
    """GitHub's GraphQL schema, built once per test session (it takes a second or two)."""
    return github_schema()
