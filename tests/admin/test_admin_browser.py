"""The operator's pages in headless Chromium, as a team lead opens them: the list, an analysis
with many findings, a failed one and the overview, at 1440x1000 and 1280x800, light and dark.

Each page must fit its width (no horizontal scrolling), an analysis must show its summary
block in the first viewport, and no link may point at a line outside the diff. Screenshots
go to $PRISM_SCREENSHOTS (default var/screenshots), which CI keeps as artifacts.
"""

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from reviews.results import Skipped
from tests.conftest import IN_CI
from tests.factories import coverage, feedback, finding
from tests.fixtures import REPO_ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.browser]

SCREENSHOTS = Path(os.environ.get("PRISM_SCREENSHOTS") or REPO_ROOT / "var" / "screenshots")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"
OFF_DIFF_LINE = 987654
SIZES = [(1440, 1000), (1280, 800)]
THEMES = ["light", "dark"]
REPO = "octo-enterprises/widget-platform-monorepo"


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


def run_chromium(
    chromium: str, tmp_path, url: str, *args: str, size: tuple[int, int] = (1440, 1000)
) -> subprocess.CompletedProcess:
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
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={size[0]},{size[1]}",
            *args,
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


def many_findings() -> dict:
    """39 findings over 9 files, 11 of them off the diff, and a summary in 16 parts."""
    severities = ["critical", "high", "medium", "low"]
    categories = ["security", "bug", "performance", "style"]
    found = [
        finding(
            path=f"services/widgets/module_{i % 9}/handlers.py",
            line=OFF_DIFF_LINE if i % 4 == 3 and i < 44 else 10 + i,
            anchored=not (i % 4 == 3 and i < 44),
            severity=severities[i % 4],
            category=categories[(i // 2) % 4],
            title=f"Finding {i}: request input reaches the query builder" if i else HOSTILE,
            body=f"Explanation {i}. " * 8,
        )
        for i in range(39)
    ]
    summary = "\n\n".join(f"Part {n}: The handlers changed." for n in range(1, 17))
    skipped = tuple(Skipped(f"vendor/lib{n}.min.js", "minified", 200) for n in range(4))
    return feedback(
        *found,
        summary=summary,
        coverage=coverage(
            files_total=52, files_reviewed=48, lines_total=3110, lines_reviewed=2310,
            skipped=skipped,
        ),
    )  # fmt: skip


@pytest.fixture
def pages(live_server, staff_client, make_analysis, settings):
    """The pages to check, by name, as URLs that log the browser in first."""
    settings.ROOT_URLCONF = "tests.urls_browser"
    middleware = settings.MIDDLEWARE
    settings.MIDDLEWARE = [*middleware, "tests.urls_browser.PageCheck"]
    reload_middleware(live_server)
    started = timezone.now() - timedelta(minutes=3)
    large = make_analysis(
        status="completed",
        repo_full_name=REPO,
        pr_title="Move the widget handlers to the new query builder " * 3,
        pr_author="a-very-long-github-login-name",
        llm_model="anthropic/claude-sonnet-4.5",
        prompt_tokens=181_204,
        completion_tokens=12_993,
        cost=Decimal("0.328148"),
        started_at=started,
        finished_at=started + timedelta(seconds=94.2),
        comment_url=f"https://github.com/{REPO}/pull/7#issuecomment-1",
        comment_error="inline comments: 422 Unprocessable Entity: Line could not be resolved",
        feedback=many_findings(),
    )
    failed = make_analysis(
        status="failed",
        repo_full_name=REPO,
        pr_number=8,
        llm_model="anthropic/claude-sonnet-4.5",
        prompt_tokens=24_000,
        completion_tokens=1_600,
        cost=Decimal("0.0964"),
        started_at=started,
        finished_at=started + timedelta(seconds=41),
        error="the model's answer is unusable after one repair attempt: not JSON " + "x" * 400,
    )
    for n in range(12):
        make_analysis(
            status=["completed", "failed", "skipped", "queued"][n % 4],
            repo_full_name=f"octo/{'service-' * (n % 3)}gears{n}",
            pr_number=100 + n,
            error="Pull request is merged." if n % 4 == 2 else "",
            feedback=feedback(finding(severity="high"), finding(line=11, severity="low"))
            if n % 4 == 0
            else {},
        )
    session = staff_client.cookies[settings.SESSION_COOKIE_NAME].value

    def url(target: str, theme: str) -> str:
        query = urlencode({"session": session, "next": target, "theme": theme})
        return f"{live_server.url}/__browser_test_login__/?{query}"

    yield {
        "list": ("/admin/reviews/analysis/", url),
        "analysis": (f"/admin/reviews/analysis/{large.id}/change/", url),
        "failed": (f"/admin/reviews/analysis/{failed.id}/change/", url),
        "overview": ("/admin/reviews/analysis/overview/", url),
    }
    settings.MIDDLEWARE = middleware
    reload_middleware(live_server)


def reload_middleware(live_server) -> None:
    """The live server's handler read MIDDLEWARE when it started; have it read it again."""
    app = live_server.thread.httpd.get_app()
    while app is not None:  # the static and media file handlers are handlers too
        app.load_middleware()
        app = getattr(app, "application", None)


def page_check(chromium: str, tmp_path, url: str, size: tuple[int, int]) -> tuple[str, dict]:
    dom = run_chromium(chromium, tmp_path, url, "--dump-dom", size=size)
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    html = dom.stdout.decode()
    found = re.search(r'<script type="application/json" id="prism-page-check">(.*?)</script>', html)
    assert found, html[-3000:]
    return html, json.loads(found.group(1))


def screenshot(chromium: str, tmp_path, url: str, name: str, size: tuple[int, int]) -> bytes:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / name
    png.unlink(missing_ok=True)
    shot = run_chromium(chromium, tmp_path, url, f"--screenshot={png}", size=size)
    assert shot.returncode == 0, shot.stderr.decode()[-2000:]
    return png.read_bytes()


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ["list", "analysis", "failed", "overview"])
def test_the_operator_pages_fit_the_screen_and_lead_with_the_summary(
    chromium, pages, tmp_path, name, size, theme
):
    target, url = pages[name]
    html, facts = page_check(chromium, tmp_path, url(target, theme), size)

    assert facts["theme"] == theme
    assert facts["innerWidth"] == size[0]
    # No horizontal scrolling: every column and chart fits the window.
    assert facts["scrollWidth"] <= facts["innerWidth"], (name, size, facts["scrollWidth"])
    assert facts["clipped"] == [], (name, size)
    # Nothing links to a line that is not in the diff (GitHub has no such line to show).
    assert not [link for link in facts["links"] if f"R{OFF_DIFF_LINE}" in link]
    # Untrusted text is text, never markup.
    assert HOSTILE not in html
    if name in ("analysis", "failed"):
        # The summary (status, coverage, cost, posting) sits within the first viewport.
        assert facts["summaryBottom"] is not None
        assert facts["summaryBottom"] <= facts["innerHeight"], (name, size, facts)
    if name == "analysis":
        assert "outside the diff" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    if name == "failed":
        assert "Findings (0)" not in html and "No findings" not in html
        assert "not reviewed" in html

    shot = f"{name}-{size[0]}x{size[1]}-{theme}.png"
    data = screenshot(chromium, tmp_path, url(target, theme), shot, size)
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # a blank page compresses to a few kB
