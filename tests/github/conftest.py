from collections.abc import Callable
from typing import Any

import pytest
from graphql import GraphQLSchema

from reviews.github.client import GitHubClient
from tests.graphql_schema import github_schema


@pytest.fixture(scope="session")
def graphql_schema() -> GraphQLSchema:
    """GitHub's GraphQL schema, built once per test session (it takes a second or two)."""
    return github_schema()


API = "https://api.github.test"
TOKEN = "ghs_prismTestToken0123456789abcdefXYZ"
NOW = 1_700_000_000.0


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the client asked for, instead of sleeping."""
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Callable[..., GitHubClient]:
    def make(base_url: str = API, **kwargs: Any) -> GitHubClient:
        return GitHubClient(
            base_url=base_url, token=TOKEN, sleep=sleeps.append, clock=lambda: NOW, **kwargs
        )

    return make


@pytest.fixture
def client(make_client: Callable[..., GitHubClient]) -> GitHubClient:
    return make_client()
