"""GitHub App mode's settings: the App id and its private key, inline or from a file."""

import hashlib

import pytest

from tests.test_settings import run_python, run_settings

PRINT_KEY_HASH = (
    "import hashlib, prism.settings as s; "
    "print(s.GITHUB_APP_ID, hashlib.sha256(s.GITHUB_APP_PRIVATE_KEY.encode()).hexdigest())"
)


@pytest.fixture(scope="module")
def pem(app_private_key) -> str:
    return app_private_key[0]


def test_the_key_is_read_inline_with_escaped_newlines(pem):
    one_line = pem.strip().replace("\n", "\\n")

    result = run_python(
        "-c",
        PRINT_KEY_HASH,
        env={"SECRET_KEY": "x", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": one_line},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4242", hashlib.sha256(pem.encode()).hexdigest()]


def test_the_key_is_read_from_a_file(pem, tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)

    result = run_python(
        "-c",
        PRINT_KEY_HASH,
        env={
            "SECRET_KEY": "x",
            "GITHUB_APP_ID": "4242",
            "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        },
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == hashlib.sha256(pem.encode()).hexdigest()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITHUB_APP_ID": "4242"}, "needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY"),
        ({"GITHUB_APP_ID": "my-app", "GITHUB_APP_PRIVATE_KEY": "x"}, "numeric id"),
        (
            {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent/app.pem"},
            "GITHUB_APP_PRIVATE_KEY_FILE cannot be read",
        ),
    ],
)
def test_a_half_or_wrongly_configured_app_stops_prism(env, message):
    result = run_settings({"SECRET_KEY": "x", **env})

    assert result.returncode != 0
    assert message in result.stderr


def test_a_key_that_is_not_pem_is_refused_without_being_quoted():
    result = run_settings(
        {"SECRET_KEY": "x", "GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "hunter2-secret-key"}
    )

    assert result.returncode != 0
    assert "GITHUB_APP_PRIVATE_KEY is not a PEM private key" in result.stderr
    assert "hunter2" not in result.stderr


def test_inline_and_file_together_are_refused(pem, tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)

    result = run_settings(
        {
            "SECRET_KEY": "x",
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_PRIVATE_KEY": pem.replace("\n", "\\n"),
            "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        }
    )

    assert result.returncode != 0
    assert "not both" in result.stderr
    assert pem.splitlines()[1] not in result.stderr
