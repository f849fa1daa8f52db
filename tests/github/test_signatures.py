import json

import pytest

from reviews.github import signatures
from tests.fixtures import GITHUB_FIXTURES

VECTORS = json.loads((GITHUB_FIXTURES / "hmac_vectors.json").read_text(encoding="utf-8"))


def test_it_accepts_githubs_documented_test_vector():
    official = VECTORS["official"]
    body = official["payload"].encode("utf-8")
    assert signatures.sign(official["secret"], body) == official["expected_X-Hub-Signature-256"]
    assert signatures.verify(official["secret"], body, official["expected_X-Hub-Signature-256"])


def test_it_accepts_a_real_signed_delivery_byte_for_byte():
    real = VECTORS["real_delivery"]
    body = (GITHUB_FIXTURES / real["body_file"]).read_bytes()
    assert signatures.verify(real["secret"], body, real["headers"]["X-Hub-Signature-256"])


def test_it_rejects_the_same_delivery_pretty_printed():
    real = VECTORS["real_delivery"]
    pretty = GITHUB_FIXTURES / "payloads/real_delivery/ctbur-ci-server.push.pretty.json"
    body = pretty.read_bytes()
    assert not signatures.verify(real["secret"], body, real["headers"]["X-Hub-Signature-256"])


@pytest.mark.parametrize("case", VECTORS["derived_negative_cases"], ids=lambda case: case["case"])
def test_it_rejects_every_derived_negative_case(case):
    body = case["payload"].encode("utf-8")
    assert not signatures.verify(case["secret"], body, case["header"])


def test_an_empty_secret_verifies_nothing():
    body = b"Hello, World!"
    assert not signatures.verify("", body, signatures.sign("", body))


def test_a_non_ascii_header_is_rejected_not_raised():
    assert not signatures.verify("secret", b"{}", "sha256=\u00e9" * 4)
