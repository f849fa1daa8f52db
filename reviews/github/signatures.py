"""GitHub webhook signatures (X-Hub-Signature-256).

https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value GitHub sends for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is GitHub's signature of the raw `body` under `secret`.

    An empty secret verifies nothing: a webhook without a secret would accept anyone.
    """
    if not secret or not header or not header.startswith(PREFIX):
        return False
    # compare_digest needs ASCII or bytes; a non-ASCII header is simply wrong.
    try:
        received = header.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), received)
