import pytest

from reviews.redaction import SecretMatch, find_secrets, redact
from tests.fixtures import diff_names, diff_text

# Built from pieces so this file does not itself look like it leaks credentials.
GITHUB_PAT = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
PRIVATE_KEY_BODY = "MIIEowIBAAKCAQEA7Yq3b9x2Qk1fZ8e4Lw0pHq5mN3vR6tU2yXa9BcDeFgHiJkLm"

SECRETS = [
    ("github-token", f'GITHUB_TOKEN = "{GITHUB_PAT}"', GITHUB_PAT),
    ("github-token", "gho_" + "Z9y8X7w6V5u4T3s2R1q0" * 2, None),
    ("github-token", "token: ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a", None),
    ("github-token", "github_pat_11ABCDEFG0" + "abcdefghij_KLMNOPQRST" * 3, None),
    ("aws-access-key-id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-access-key-id", "key=ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    (
        "aws-secret-access-key",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "private-key",
        f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END RSA PRIVATE KEY-----",
        PRIVATE_KEY_BODY,
    ),
    ("private-key", "+-----BEGIN OPENSSH PRIVATE KEY-----", "BEGIN OPENSSH PRIVATE KEY"),
    (
        "private-key",
        f"+-----BEGIN PRIVATE KEY-----\n+{PRIVATE_KEY_BODY}\n+{PRIVATE_KEY_BODY[::-1]}",
        PRIVATE_KEY_BODY[::-1],
    ),
    ("openrouter-key", "OPENROUTER_API_KEY=sk-or-v1-" + "9f8e7d6c5b4a3210" * 4, None),
    ("openai-key", 'openai.api_key = "sk-proj-' + "Ab3dEf6hIj9kLm2nOp5qRs8t" + '"', None),
    ("openai-key", "key = sk-" + "T3BlbkFJ" * 6, None),
    ("slack-token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", None),
    ("google-api-key", "maps_key = AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", None),
    ("stripe-key", "stripe.api_key = sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", None),
    ("stripe-key", "rk_live_" + "51H8abcdefGHIJKLmnopQRSTuv", None),
    (
        "jwt",
        "Authorization: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "eyJhbGciOiJIUzI1NiJ9",
    ),
    (
        "bearer-token",
        'headers = {"Authorization": "Bearer 8f14e45fceea167a5a36dedd4bea2543"}',
        None,
    ),
    ("url-credentials", "DATABASE_URL = postgres://prism:Tr0ub4dor-3@db:5432/prism", "Tr0ub4dor"),
    ("secret-assignment", 'password = "hunter2-prod!"', "hunter2-prod!"),
    ("secret-assignment", "DB_PASSWORD: 'c0rrect-h0rse'", "c0rrect-h0rse"),
    ("secret-assignment", '"api_key": "a8f5f167f44f4964e6c998dee827110c"', "a8f5f167f44f"),
    ("secret-assignment", "client_secret='Zx81-qq93-Lm02'", "Zx81-qq93-Lm02"),
    ("secret-assignment", "+SECRET_KEY=django-insecure-7x!k2$abc", "django-insecure"),
    ("secret-assignment", "export API_TOKEN=q9w8e7r6t5y4u3i2", "q9w8e7r6t5y4u3i2"),
]


@pytest.mark.parametrize(
    ("kind", "text", "secret"), SECRETS, ids=[f"{i}-{s[0]}" for i, s in enumerate(SECRETS)]
)
def test_each_kind_of_secret_is_detected_and_replaced(kind, text, secret):
    secret = secret or text.split()[-1].split("=")[-1].strip("\"'")

    redacted, kinds = redact(text)

    assert kinds == [kind]
    assert f"[REDACTED {kind}]" in redacted
    assert secret not in redacted


NORMAL_CODE = [
    'password = os.environ["DB_PASSWORD"]',
    "password = os.environ.get('DB_PASSWORD', '')",
    "token = None",
    "api_key = settings.LLM_API_KEY",
    'token = request.headers.get("Authorization", "")',
    'password_field = "password_confirmation"',
    '"token_type": "bearer"',
    'tokenizer = "bert-base-uncased"',
    'headers["Authorization"] = f"Bearer {self.token}"',
    "SECRET_KEY=${SECRET_KEY}",
    "DB_PASSWORD=$(cat /run/secrets/db)",
    "self.password = password",
    'def check_password(self, raw_password: str = "") -> bool:',
    'url = "https://api.github.com/repos/octo/hello/pulls"',
    "sha = '6dcb09b5b57875f334f61aebed695e2e4193db5e'",
    "pip install scikit-learn risk-assessment-tool",
    "const className = 'task-list-item-checkbox-container';",
    "class PasswordResetView(FormView):",
    "-----BEGIN CERTIFICATE-----",
    'SECRET_KEY = env.str("SECRET_KEY", default="")',
]


@pytest.mark.parametrize("text", NORMAL_CODE)
def test_normal_code_is_not_flagged(text):
    assert find_secrets(text) == []
    assert redact(text) == (text, [])


@pytest.mark.parametrize("name", diff_names())
def test_the_real_fixture_diffs_are_mostly_left_alone(name):
    # One release diff carries a public search key and test URLs with passwords; the rest
    # are ordinary code.
    assert len(find_secrets(diff_text(name))) <= 6


def test_only_the_value_of_an_assignment_is_replaced():
    redacted, kinds = redact('    password = "hunter2-prod!"  # TODO move to vault')

    assert redacted == '    password = "[REDACTED secret-assignment]"  # TODO move to vault'
    assert kinds == ["secret-assignment"]


def test_a_key_in_a_generic_assignment_is_named_by_its_specific_kind():
    text = f'token = "{GITHUB_PAT}"'

    assert find_secrets(text) == [SecretMatch("github-token", 9, 9 + len(GITHUB_PAT))]


def test_several_secrets_in_a_diff_are_all_redacted_and_each_kind_listed_once():
    diff = "\n".join(
        [
            "@@ -1,2 +1,5 @@",
            " import os",
            f'+GITHUB_TOKEN = "{GITHUB_PAT}"',
            "+AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'",
            "+BACKUP_TOKEN = 'Q7-v9x!mZ2pL'",
            f"+FALLBACK = '{GITHUB_PAT.replace('a1', 'z9')}'",
        ]
    )

    redacted, kinds = redact(diff)

    assert kinds == ["github-token", "aws-access-key-id", "secret-assignment"]
    assert GITHUB_PAT not in redacted
    assert "AKIAIOSFODNN7EXAMPLE" not in redacted
    assert redacted.count("[REDACTED github-token]") == 2
    assert redacted.startswith("@@ -1,2 +1,5 @@\n import os\n+GITHUB_TOKEN = ")


def test_a_private_key_block_is_redacted_whole():
    text = (
        "+key = '''\n+-----BEGIN EC PRIVATE KEY-----\n"
        f"+{PRIVATE_KEY_BODY}\n+{PRIVATE_KEY_BODY}\n+-----END EC PRIVATE KEY-----\n+'''"
    )

    redacted, kinds = redact(text)

    assert redacted == "+key = '''\n+[REDACTED private-key]\n+'''"
    assert kinds == ["private-key"]
