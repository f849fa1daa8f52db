import shutil
import subprocess
from urllib.parse import urlencode

import pytest

from tests.conftest import IN_CI
from tests.factories import feedback, finding
from tests.fixtures import REPO_ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.browser]

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def chromium() -> str:
    # Debian names it chromium; Ubuntu (GitHub's runners) chromium-browser or Google Chrome.
    found = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
        None,
    )
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed and CI never skips browser tests")
        pytest.skip("needs chromium (apt-get install chromium)")
    return found


def run_chromium(chromium: str, tmp_path, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,1600",
            *args,
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def detail_url(live_server, staff_client, make_analysis, settings):
    settings.ROOT_URLCONF = "tests.urls_browser"
    analysis = make_analysis(
        status="completed",
        pr_title="Faster widgets",
        llm_model="openai/gpt-4o-mini",
        prompt_tokens=1200,
        completion_tokens=300,
        feedback=feedback(
            finding(
                path="src/app.py",
                line=42,
                category="security",
                severity="critical",
                title="SQL built from request input",
                body="Use query parameters.",
            ),
            finding(
                path="src/app.py",
                line=10,
                category="bug",
                severity="high",
                title=HOSTILE,
                body=f"{HOSTILE} must show as text",
            ),
            finding(
                path="docs/readme.md",
                line=3,
                category="style",
                severity="low",
                title="Typo",
                body="recieve → receive",
            ),
        ),
    )
    session = staff_client.cookies[settings.SESSION_COOKIE_NAME].value

    def url(target: str) -> str:
        query = urlencode({"session": session, "next": target})
        return f"{live_server.url}/__browser_test_login__/?{query}"

    return url(f"/admin/reviews/analysis/{analysis.id}/change/"), url


def screenshot(chromium: str, tmp_path, url: str, name: str) -> bytes:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / name
    png.unlink(missing_ok=True)
    shot = run_chromium(chromium, tmp_path, url, f"--screenshot={png}")
    assert shot.returncode == 0, shot.stderr.decode()[-2000:]
    return png.read_bytes()


def test_the_admin_detail_page_renders_the_findings_in_chromium(chromium, detail_url, tmp_path):
    detail, _ = detail_url
    dom = run_chromium(chromium, tmp_path, detail, "--dump-dom")
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    html = dom.stdout.decode()
    assert 'class="prism-findings"' in html
    assert "SQL built from request input" in html
    # Rendered as text by the browser, never as a script element.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in html

    data = screenshot(chromium, tmp_path, detail, "admin-analysis-detail.png")
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # a blank 1280x1600 page compresses to a few kB


def test_the_admin_overview_draws_its_charts_in_chromium(chromium, detail_url, tmp_path):
    _, url = detail_url
    overview = url("/admin/reviews/analysis/overview/")
    dom = run_chromium(chromium, tmp_path, overview, "--dump-dom")
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    assert dom.stdout.decode().count('<svg role="img"') == 4

    data = screenshot(chromium, tmp_path, overview, "admin-overview.png")
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000
