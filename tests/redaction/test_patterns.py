import pytest

from reviews.redaction import SecretMatch, find_secrets, redact

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


# The formats the security issue showed passing unredacted. Values built from pieces, as above.
ISSUE_FORMATS = [
    (
        "authorization",
        "Authorization: Basic " + "ZGVwbG95OlhxOSNyVDQhdlA=",
        "ZGVwbG95OlhxOSNyVDQhdlA",
    ),
    ("authorization", "Authorization: token " + "9f8e7d6c5b4a" * 3, "9f8e7d6c5b4a"),
    ("secret-assignment", "password: " + "Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("secret-assignment", "  db_password = " + "s3cr3t-value", "s3cr3t-value"),
    ("secret-assignment", "db_password=" + "Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("secret-assignment", "REDIS_PASS=" + "q9w8e7r6", "q9w8e7r6"),
    ("secret-assignment", "SMTP_PWD=" + "mail-4x9Q", "mail-4x9Q"),
    ("secret-assignment", "BASIC_AUTH=" + "admin:Zx81qq93", "admin:Zx81qq93"),
    ("secret-assignment", "WEBHOOK_SECRET=" + "a1b2c3d4e5f6", "a1b2c3d4e5f6"),
    ("secret-assignment", "CI_DEPLOY_TOKEN=" + "Q7v9xmZ2pL4k", "Q7v9xmZ2pL4k"),
    ("secret-assignment", "SIGNING_KEY=" + "Zm9vYmFyYmF6cXV4MTIz", "Zm9vYmFyYmF6cXV4MTIz"),
    ("secret-assignment", "DB_PASSWORD=" + "Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("secret-assignment", "password = 'hunter" + "2'", "hunter2"),
    ("secret-assignment", "mysql -u root --password=" + "f24HciAoWgkt prod", "f24HciAoWgkt"),
    ("url-credentials", "curl -u admin:" + "S3cr3tPa55 https://ci", "S3cr3tPa55"),
    ("secret-assignment", "<password>" + "Xq9rT4vPz" + "</password>", "Xq9rT4vPz"),
    (
        "url-credentials",
        "https://" + "8f14e45fceea167a5a36dedd4bea2543" + "@o1.ingest.sentry.io/1",
        "8f14e45f",
    ),
    (
        "slack-webhook",
        "https://hooks.slack.com/services/" + "T0A1B2C3D/B0A1B2C3D4/" + "a1B2" * 6,
        "a1B2a1B2",
    ),
    ("npm-token", "//registry.npmjs.org/:_authToken=npm_" + "a1B2c3D4e5F6" * 3, "a1B2c3D4e5F6"),
    ("pypi-token", "pypi-AgEIcHlwaS5vcmc" + "CJDQ2ZmY1YjNi" * 5, "CJDQ2ZmY1YjNi"),
    ("gitlab-token", "glpat-" + "x1Y2z3A4b5C6d7E8f9G0", "x1Y2z3A4b5C6d7E8f9G0"),
    ("sendgrid-key", "SG." + "a1B2c3D4e5F6g7H8i9J0kL" + "." + "M1n2O3p4" * 5 + "Q1r", "M1n2O3p4"),
    ("azure-storage-key", "AccountKey=" + "a1B2c3D4e5F6+/" * 6 + "a1==;", "a1B2c3D4e5F6"),
    ("stripe-key", "rk_live_" + "51H8abcdefGHIJKLmnopQRSTuv", "51H8abcdef"),
    ("stripe-key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyj"),
    (
        "github-token",
        "ghs_123456_eyJ" + "hbGciOiJSUzI1NiJ9" * 28 + ".eyJ" + "pc3Mi" * 20,
        "hbGciOiJSUzI1NiJ9",
    ),
    (
        "aws-secret-access-key",
        "secret_access_key: " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI",
    ),
    (
        "aws-secret-access-key",
        '"SecretAccessKey": "' + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" + '"',
        "wJalrXUtnFEMI",
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "secret"),
    ISSUE_FORMATS,
    ids=[f"{i}-{f[0]}" for i, f in enumerate(ISSUE_FORMATS)],
)
def test_the_formats_that_used_to_pass_are_redacted(kind, text, secret):
    redacted, kinds = redact(text)

    assert secret not in redacted
    assert kind in kinds


ORDINARY_CODE = [
    "password: str",
    'password: str = ""',
    "    api_key: Optional[str] = None",
    "password = get_password()",
    "password = pw if remember else None",
    "connect(user=user, password=password)",
    "    password=password",
    "items.sort(key=lambda item: item.name)",
    "id = models.AutoField(primary_key=True)",
    'cache_key = "users-list"',
    "token = tokens.next()",
    "key = f'{prefix}:{user_id}'",
    'SECRET_KEY = "config"',
    'token_type = "bearer"',
    "password: ${DB_PASSWORD}",
    'password: "{{ vault_db_password }}"',
    'session.headers.update({"Proxy-Authorization": proxy_auth_value})',
    "assert headers == {'Proxy-Authorization': 'Basic dXNlcjpwYXNz'}",
    "'http://user:pass@example.com/path?query'",
    "@pytest.mark.parametrize(('username', 'password', 'message'), (",
    "monkey = 'banana1234'",
    "bypass = 'yes-please-2'",
    "git@github.com:octo/widgets.git",
    "ssh://git@github.com/octo/widgets.git",
    "sha = '6dcb09b5b57875f334f61aebed695e2e4193db5e'",
    'raise ValueError("Invalid token: expected a JWT")',
    'log.info("password reset requested for %s", email)',
]


@pytest.mark.parametrize("text", ORDINARY_CODE)
def test_ordinary_code_with_secret_words_stays_readable(text):
    assert find_secrets(text) == []
