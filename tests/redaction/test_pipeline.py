"""Multi-line keys through the whole review: nothing of a key's body reaches the model.

Redaction used to run one diff line at a time, so only a key's BEGIN line was redacted and
every base64 line of its body was sent. These tests replay that: a pull request adds,
removes or shows keys in several shapes, and every request to the model is searched for any
piece of any body line.
"""

import base64
import random

import pytest
import responses

from reviews.models import Analysis
from reviews.tasks import review_pull_request
from tests import stubs

pytestmark = pytest.mark.django_db

REPO, NUMBER = "octo/widgets", 7
PR_API = f"{stubs.API}/repos/{REPO}/pulls/{NUMBER}"
CHAT = f"{stubs.LLM}/chat/completions"


def _body(seed: int, lines: int, width: int = 64) -> list[str]:
    """Fake key material: random base64, wrapped as PEM (64) or OpenSSH (70) wrap it."""
    rng = random.Random(seed)
    raw = bytes(rng.randrange(256) for _ in range(lines * width))
    text = base64.b64encode(raw).decode()
    return [text[i * width : (i + 1) * width] for i in range(lines)]


RSA = _body(1, 6)
OPENSSH = ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAB" + "lwAAAAdzc2gtcn"]
OPENSSH += _body(2, 5, 70)
PGP = [*_body(3, 4), "=" + _body(4, 1)[0][:4]]
YAML_KEY = _body(5, 4)
OLD_KEY, NEW_KEY = _body(6, 3), _body(7, 3)
CONTEXT_KEY = _body(8, 5)
NO_BEGIN = _body(9, 4)
DESCRIPTION_KEY = _body(10, 3)
ALL_BODIES = [
    *RSA,
    *OPENSSH,
    *PGP[:-1],
    *YAML_KEY,
    *OLD_KEY,
    *NEW_KEY,
    *CONTEXT_KEY,
    *NO_BEGIN,
    *DESCRIPTION_KEY,
]


def _file(path: str, header: str, lines: list[str]) -> str:
    return f"diff --git a/{path} b/{path}\n{header}--- a/{path}\n+++ b/{path}\n" + "\n".join(lines)


def _added(path: str, lines: list[str]) -> str:
    return _file(
        path,
        "new file mode 100644\nindex 0000000..1111111\n",
        [f"@@ -0,0 +1,{len(lines)} @@", *(f"+{line}" for line in lines)],
    ).replace(f"--- a/{path}", "--- /dev/null")


DIFF = "\n".join(
    [
        # A PEM key added to Python source.
        _added(
            "app/keys.py",
            [
                'SIGNING_KEY = """',
                "-----BEGIN RSA PRIVATE KEY-----",
                *RSA,
                "-----END RSA PRIVATE KEY-----",
                '"""',
            ],
        ),
        # An OpenSSH key and a PGP block (blank line and header after BEGIN).
        _added(
            "deploy/keys.txt",
            [
                "-----BEGIN OPENSSH PRIVATE KEY-----",
                *OPENSSH,
                "-----END OPENSSH PRIVATE KEY-----",
                "-----BEGIN PGP PRIVATE KEY BLOCK-----",
                "Version: GnuPG v2",
                "",
                *PGP,
                "-----END PGP PRIVATE KEY BLOCK-----",
            ],
        ),
        # A key in a YAML block scalar, with no END line in the hunk.
        _added(
            "config/tls.yaml",
            [
                "tls:",
                "  key: |",
                "    -----BEGIN EC PRIVATE KEY-----",
                *(f"    {b}" for b in YAML_KEY),
            ],
        ),
        # A rotated key: the old body removed, the new one added, BEGIN and END as context.
        _file(
            "config/rotate.pem",
            "index 2222222..3333333 100644\n",
            [
                "@@ -1,5 +1,5 @@",
                " -----BEGIN PRIVATE KEY-----",
                *(f"-{b}" for b in OLD_KEY),
                *(f"+{b}" for b in NEW_KEY),
                " -----END PRIVATE KEY-----",
            ],
        ),
        # A key that is only context: the hunk starts inside it and a line after it changes.
        _file(
            "config/legacy.txt",
            "index 4444444..5555555 100644\n",
            [
                "@@ -10,7 +10,7 @@ legacy:",
                *(f" {b}" for b in CONTEXT_KEY),
                " -----END RSA PRIVATE KEY-----",
                "-mode: old",
                "+mode: new",
            ],
        ),
        # A hunk that starts inside a key and ends before its END: no marker at all.
        _file(
            "config/cut.txt",
            "index 6666666..7777777 100644\n",
            [
                "@@ -3,5 +3,5 @@",
                *(f" {b}" for b in NO_BEGIN),
                "-x: 1",
                "+x: 2",
            ],
        ),
    ]
)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _run(http, make_analysis, diff: str, **pr) -> tuple[str, Analysis]:
    analysis = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha="a" * 40, publish=False
    )
    body = stubs.pull_request_json(repo=REPO, number=NUMBER, head_sha=analysis.head_sha, **pr)
    http.get(
        PR_API,
        json=body,
        match=[responses.matchers.header_matcher({"Accept": "application/vnd.github+json"})],
    )
    http.get(
        PR_API,
        body=diff,
        match=[responses.matchers.header_matcher({"Accept": "application/vnd.github.diff"})],
    )
    http.post(CHAT, json=stubs.chat_completion([]))

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    calls = [c for c in http.calls if c.request.url.split("?")[0] == CHAT]
    assert calls
    sent = "\n".join(m["content"] for call in calls for m in stubs.sent_json(call)["messages"])
    return sent, analysis


def _leaked(sent: str, bodies: list[str]) -> list[str]:
    """Every body line of which a 12-character piece was sent."""
    return [b for b in bodies if any(b[i : i + 12] in sent for i in range(0, len(b) - 11, 4))]


def test_no_line_of_a_multi_line_key_reaches_the_model(http, make_analysis):
    sent, _ = _run(http, make_analysis, DIFF)

    assert _leaked(sent, ALL_BODIES) == []
    # The model still reads the code around the keys.
    assert "SIGNING_KEY" in sent and "mode: new" in sent and "[REDACTED private-key]" in sent


def test_each_added_key_is_one_critical_finding_over_its_added_lines(http, make_analysis):
    _, analysis = _run(http, make_analysis, DIFF)

    leaks = sorted(
        (f["path"], f["line"], f["end_line"], f["anchored"])
        for f in analysis.feedback["findings"]
        if f["severity"] == "critical" and f["title"].startswith("Credential committed")
    )
    assert leaks == [
        ("app/keys.py", 2, 9, True),
        ("config/rotate.pem", 2, 4, True),  # the new body only: BEGIN and END are context
        ("config/tls.yaml", 3, 7, True),
        ("deploy/keys.txt", 1, 8, True),  # OpenSSH
        ("deploy/keys.txt", 9, 17, True),  # PGP, over its blank line
    ]
    # Removed and context lines leak nothing new: no finding on legacy.txt or cut.txt.


def test_a_key_split_between_the_title_and_the_description_is_not_sent(http, make_analysis):
    title = "Add the deploy key -----BEGIN RSA PRIVATE KEY-----"
    body = "\n".join([*DESCRIPTION_KEY, "-----END RSA PRIVATE KEY-----", "", "Thanks!"])

    sent, _ = _run(http, make_analysis, _added("README.md", ["hello"]), title=title, body=body)

    assert _leaked(sent, DESCRIPTION_KEY) == []
    assert "Add the deploy key" in sent and "Thanks!" in sent
