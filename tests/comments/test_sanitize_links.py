"""Links in a comment go only to GitHub, whatever the URL hides in its authority.

The host is checked in the rendered HTML, after cmark-gfm (GitHub's renderer) has decoded
entities: "https://github.com:&#64;evil.example/login" reads as github.com in the markdown but is
user info "github.com:" before the host evil.example once rendered.
"""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reviews.comments.sanitize import is_allowed_url, sanitize_block, sanitize_inline
from tests.comments.test_sanitize import in_a_table_cell
from tests.factories import feedback, finding

ENTERPRISE = "git.corp.example"
ATTACK = "https://github.com:&#64;evil.example/login"
# The same trick spelled other ways: hex and named entities, percent-escapes, a backslash
# (browsers read it as "/"), and user info in the clear.
DISGUISES = [
    ATTACK,
    "https://github.com:&#x40;evil.example/login",
    "https://github.com:&commat;evil.example/login",
    "https://github.com&#58;&#64;evil.example/login",
    "https://github.com:%40evil.example/login",
    "https://github.com%2f@evil.example/login",
    "https://github.com&#92;@evil.example/login",
    "https://evil.example&#92;@github.com/login",
    "https://evil.example&#92;.github.com/login",
    "https://evil.example&#47;.github.com/login",
    "https://github.com&#47;@evil.example/login",
    "https://%65vil.example/.github.com",
    f"https://{ENTERPRISE}:&#64;evil.example/login",
]


class _Links(HTMLParser):
    """Every href and src in some HTML, entities decoded (as a browser reads them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("href", "src")]


def link_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.urls


def github_html(markdown: str) -> str:
    """`markdown` rendered as GitHub renders a comment (see tests.comments.test_sanitize.render)."""
    return cmarkgfm.markdown_to_html_with_extensions(
        markdown,
        options=Options.CMARK_OPT_UNSAFE,
        extensions=["table", "autolink", "strikethrough"],
    )


def assert_links_stay_on(html: str, hosts: tuple[str, ...] = ()) -> list[str]:
    """Every link and image URL is http(s), on GitHub or `hosts`, with no user info or odd port."""
    urls = link_urls(html)
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        assert parts.scheme in ("http", "https"), url
        assert "@" not in parts.netloc and parts.username is None, url
        assert "\\" not in parts.netloc and "%" not in parts.netloc, url
        assert parts.port in (None, {"http": 80, "https": 443}[parts.scheme]), url
        assert (
            host == "github.com"
            or host.endswith((".github.com", ".githubusercontent.com"))
            or host in hosts
        ), url
    return urls


@pytest.mark.parametrize("url", DISGUISES)
@pytest.mark.parametrize(
    "written",
    ["see {} now", "see <{}> now", "see [the login]({}) now", "see [{}]({}) now"],
    ids=["bare", "autolink", "labelled", "labelled-by-itself"],
)
def test_a_url_hiding_another_host_in_its_authority_is_not_linked(url, written):
    text = written.format(url, url)
    hosts = (ENTERPRISE,)
    for out in (sanitize_block(text, hosts=hosts), sanitize_inline(text, hosts=hosts)):
        assert_links_stay_on(github_html(out), hosts)
        assert_links_stay_on(github_html(in_a_table_cell(out)), hosts)
        assert "evil.example" not in "".join(link_urls(github_html(out)))


def test_the_attack_is_replaced_by_the_link_removed_note():
    assert sanitize_inline(f"see {ATTACK} now") == "see (link removed) now"
    assert sanitize_inline(f"see <{ATTACK}> now") == "see (link removed) now"
    assert sanitize_inline(f"see [the login]({ATTACK}) now") == "see the login now"


@pytest.mark.parametrize(
    "url",
    [
        *DISGUISES,
        "https://user@github.com/",
        "https://github.com:x@github.com/",
        "https://github.com:/o/r",  # an empty port
        "https://github.com:8080/o/r",
        "http://github.com:443/o/r",
        "https://github.com:443x/o/r",
        "https://github.com;.evil.example/",
        "https://&gist.github.com/",
        "https:/github.com/o/r",
        "https:github.com/o/r",
        "https:///github.com/o/r",
    ],
)
def test_user_info_escapes_odd_ports_and_odd_characters_in_the_authority_are_refused(url):
    assert not is_allowed_url(url, hosts={ENTERPRISE})


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/o/r/pull/1",
        "https://github.com",
        "HTTPS://GitHub.com/o/r",
        "https://github.com:443/o/r",
        "http://github.com:80/o/r",
        "https://github.com/o/r/issues?q=is%3Aopen&amp;page=2#top",
        "https://github.com/o/r/blob/main/a.py#L1-L3",
        "https://gist.github.com/u/1",
        "https://raw.githubusercontent.com/o/r/main/x.py",
        f"https://{ENTERPRISE}/o/r/pull/1",
    ],
)
def test_ordinary_github_links_and_the_pull_requests_own_host_are_kept(url):
    assert is_allowed_url(url, hosts={ENTERPRISE})
    out = sanitize_inline(f"see [it]({url})", hosts={ENTERPRISE})
    assert out == f"see [it]({url})"
    assert assert_links_stay_on(github_html(out), (ENTERPRISE,))


URL_PIECES = [
    "https://", "http://", "HTTP://", "www.", "github.com", "gist.github.com", ENTERPRISE,
    "evil.example", ".", "-", ":", "@", "&#64;", "&#x40;", "&commat;", "&#58;", "&colon;",
    "%40", "%2f", "%2e", "\\", "&#92;", "&bsol;", "/", "&#47;", "&sol;", "?", "#", "&", ";",
    ":443", ":80", ":8080", "<", ">", "[x](", "](", "[", "]", "(", ")", " ", "\n", "\t", "`",
    "![", '"t"', "https://github.com:", "&#64;evil.example/",
]  # fmt: skip
AUTHORITY_PIECES = [
    "github.com", "evil.example", ENTERPRISE, ".", ":", "@", "&#64;", "&#x40;", "&commat;",
    "%40", "\\", "&#92;", "&#58;", "&#47;", ":443", ":8080",
]  # fmt: skip
# A URL as the model might write one, its authority made of hosts and separators.
URL = st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["https://", "http://"]),
    st.lists(st.sampled_from(AUTHORITY_PIECES), min_size=1, max_size=6).map("".join),
    st.sampled_from(["", "/", "/login", "?q=1", "#top"]),
    st.sampled_from(["", ".", ")", " end"]),
)
URL_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(URL_PIECES), st.text(max_size=4)), max_size=30).map("".join),
    st.lists(
        st.one_of(
            URL, URL.map("<{}>".format), URL.map("[x]({})".format), st.sampled_from(URL_PIECES)
        ),
        min_size=1,
        max_size=4,
    ).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(URL_TEXT, st.sampled_from([(), (ENTERPRISE,)]))
@example("0@.A", ())  # an email whose domain starts with a dot: autolinked as mailto:
def test_every_rendered_link_and_image_is_on_an_allowed_host(text, hosts):
    block = sanitize_block(text, hosts=hosts)
    inline = sanitize_inline(text, hosts=hosts)

    assert_links_stay_on(github_html(block + "\n\nthe end\n"), hosts)
    assert_links_stay_on(github_html(in_a_table_cell(inline)), hosts)


@pytest.mark.django_db
def test_the_admin_preview_links_only_to_github(make_analysis):
    from reviews.admin.common import comment_preview

    analysis = make_analysis(
        status="completed",
        feedback=feedback(
            finding(title=f"Login at [the page]({ATTACK})", body=f"Go to <{ATTACK}> or {ATTACK}."),
            summary=f"See [the login]({ATTACK}) and [the PR](https://github.com/octo/widgets/pull/7).",
        ),
    )

    preview = comment_preview(analysis)

    assert preview is not None
    markdown, html = preview

    assert "https://github.com/octo/widgets/pull/7" in link_urls(html)
    assert_links_stay_on(html)
    assert_links_stay_on(github_html(markdown))
