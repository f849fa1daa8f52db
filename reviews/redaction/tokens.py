"""Self-identifying credential formats: a provider's prefix, then its random part."""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    kind: str
    regex: re.Pattern[str]
    # Only this named group is the secret; the rest of the match is context that stays visible.
    group: str | None = None
    # Characters before the match that belong to the secret (checked by a lookbehind).
    back: int = 0


# Characters of the random part of most API tokens. A token pattern refuses to start right
# after one of them (see the module docstring: this is what keeps the patterns linear).
TOKEN_CHARS = "A-Za-z0-9_-"  # noqa: S105 (a character class)


def token(head: str, body: str, lookbehind: str = TOKEN_CHARS) -> str:
    """The literal `head`, then the pattern `body`, never starting inside a longer run of
    token characters.

    The lookbehind sits after the literal so the engine can still scan for the literal; it
    checks the character before it.
    """
    return rf"{re.escape(head)}(?<![{lookbehind}].{{{len(head)}}}){body}"


# Self-identifying formats. When two matches start together the earlier pattern names the
# kind, so these come before the generic ones.
PATTERNS = (
    Pattern(
        "github-token",
        re.compile(
            # ghs_<APP ID>_<JWT>: GitHub's newer installation tokens are about 520 characters
            # and hold dots and dashes.
            token("gh", r"[pousr]_[A-Za-z0-9_][A-Za-z0-9_.-]{35,1024}")
            + "|"
            + token("github_pat_", r"\w{22,255}")
        ),
    ),
    Pattern(
        "gitlab-token",
        re.compile(
            token(
                "gl",
                r"(?:pat|dt|rt|ptt|cbt|soat|oas|ffct|imt|agent|ft|wt)-[A-Za-z0-9_-]{20,128}",
            )
            + "|"
            + token("GR1348941", r"[A-Za-z0-9_-]{20,64}")
        ),
    ),
    Pattern("npm-token", re.compile(token("npm_", r"[A-Za-z0-9]{36}"))),
    Pattern("pypi-token", re.compile(token("pypi-AgE", r"[A-Za-z0-9_-]{50,2048}"))),
    Pattern(
        "sendgrid-key", re.compile(token("SG.", r"[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"))
    ),
    Pattern("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    Pattern("openrouter-key", re.compile(token("sk-or-v1-", r"[A-Za-z0-9]{32,256}"))),
    Pattern("anthropic-key", re.compile(token("sk-ant-", r"[A-Za-z0-9_-]{20,256}"))),
    # Real keys are random and so practically always hold a digit; words joined by dashes
    # ("sk-some-css-class-name") do not. The lookahead is bounded, so it stays linear.
    Pattern(
        "openai-key",
        re.compile(token("sk-", r"(?=[A-Za-z0-9_-]{0,256}?\d)[A-Za-z0-9_-]{20,256}")),
    ),
    Pattern(
        "slack-token",
        re.compile(
            token("xox", r"[abposre]-[A-Za-z0-9-]{10,256}")
            + "|"
            + token("xapp-", r"\d-[A-Za-z0-9-]{10,256}")
        ),
    ),
    Pattern(
        "slack-webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,256}"),
    ),
    Pattern(
        "discord-webhook",
        re.compile(r"discord(?:app)?\.com/api/webhooks/\d{5,30}/[A-Za-z0-9_-]{30,128}"),
    ),
    Pattern("google-api-key", re.compile(token("AIza", r"[0-9A-Za-z_-]{35}"))),
    Pattern("google-oauth", re.compile(token("GOCSPX-", r"[A-Za-z0-9_-]{24,40}"))),
    Pattern("google-oauth", re.compile(token("ya29.", r"[A-Za-z0-9_-]{20,2048}"))),
    Pattern(
        "stripe-key",
        re.compile(
            token("sk_", r"(?:live|test)_[0-9A-Za-z]{10,256}")
            + "|"
            + token("rk_", r"(?:live|test)_[0-9A-Za-z]{10,256}")
        ),
    ),
    Pattern("stripe-key", re.compile(token("whsec_", r"[0-9A-Za-z]{24,256}"))),
    Pattern("huggingface-token", re.compile(token("hf_", r"[A-Za-z0-9]{30,64}"))),
    Pattern("replicate-token", re.compile(token("r8_", r"[A-Za-z0-9]{37}"))),
    Pattern("groq-key", re.compile(token("gsk_", r"[A-Za-z0-9]{48,64}"))),
    Pattern("xai-key", re.compile(token("xai-", r"[A-Za-z0-9]{60,100}"))),
    Pattern("shopify-token", re.compile(token("shp", r"(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"))),
    Pattern("digitalocean-token", re.compile(token("do", r"[opr]_v1_[a-f0-9]{64}"))),
    Pattern("doppler-token", re.compile(token("dp.", r"(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,44}"))),
    Pattern("databricks-token", re.compile(token("dapi", r"[a-f0-9]{32}(?:-\d)?"))),
    Pattern("atlassian-token", re.compile(token("ATATT3", r"[A-Za-z0-9_=-]{150,256}"))),
    Pattern("bitbucket-token", re.compile(token("ATBB", r"[A-Za-z0-9_=.-]{28,64}"))),
    Pattern("linear-key", re.compile(token("lin_", r"(?:api|oauth)_[A-Za-z0-9]{40}"))),
    Pattern("postman-key", re.compile(token("PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}"))),
    Pattern("terraform-token", re.compile(r"\.atlasv1\.[A-Za-z0-9_=-]{60,70}")),
    Pattern("vault-token", re.compile(token("hv", r"[sbr]\.[A-Za-z0-9_-]{24,256}"))),
    Pattern("sentry-token", re.compile(token("sntry", r"[su]_[A-Za-z0-9_=+/.-]{40,512}"))),
    Pattern("grafana-token", re.compile(token("glsa_", r"[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"))),
    Pattern("grafana-token", re.compile(token("glc_", r"[A-Za-z0-9+/]{32,400}={0,2}"))),
    Pattern("newrelic-key", re.compile(token("NR", r"(?:AK|II|JS)-[A-Za-z0-9]{19,32}"))),
    Pattern("dynatrace-token", re.compile(token("dt0c01.", r"[A-Z0-9]{24}\.[A-Z0-9]{64}"))),
    Pattern("docker-token", re.compile(token("dckr_", r"(?:pat|oat)_[A-Za-z0-9_-]{20,64}"))),
    Pattern("supabase-token", re.compile(token("sbp_", r"[a-f0-9]{40}"))),
    Pattern("planetscale-token", re.compile(token("pscale_", r"(?:tkn|pw|oauth)_[\w.-]{32,64}"))),
    Pattern("pulumi-token", re.compile(token("pul-", r"[a-f0-9]{40}"))),
    Pattern("figma-token", re.compile(token("figd_", r"[A-Za-z0-9_-]{40,64}"))),
    Pattern(
        "notion-token",
        re.compile(
            token("ntn_", r"[A-Za-z0-9]{43,46}") + "|" + token("secret_", r"[A-Za-z0-9]{43}\b")
        ),
    ),
    Pattern("airtable-token", re.compile(token("pat", r"[A-Za-z0-9]{14}\.[a-f0-9]{64}"))),
    Pattern("rubygems-key", re.compile(token("rubygems_", r"[a-f0-9]{48}"))),
    Pattern("nuget-key", re.compile(token("oy2", r"[a-z0-9]{43}"))),
    Pattern("clojars-token", re.compile(token("CLOJARS_", r"[a-z0-9]{60}"))),
    Pattern("mailgun-key", re.compile(token("key-", r"[0-9a-f]{32}\b"))),
    # Literal first, the 32 hex digits checked behind it: see the module docstring.
    Pattern(
        "mailchimp-key",
        re.compile(r"-us(?<=(?<![0-9a-f])[0-9a-f]{32}-us)\d{1,2}\b"),
        back=32,
    ),
    Pattern("twilio-key", re.compile(token("SK", r"[0-9a-fA-F]{32}\b"))),
    Pattern("square-token", re.compile(token("sq0", r"(?:atp|csp)-[A-Za-z0-9_-]{22,64}"))),
    Pattern("square-token", re.compile(token("EAAA", r"[A-Za-z0-9_-]{60}"))),
    Pattern("mapbox-token", re.compile(token("sk.eyJ", r"[A-Za-z0-9_.-]{40,1024}"))),
    Pattern("telegram-token", re.compile(r":AA(?<=\d{8}:AA)[A-Za-z0-9_-]{33}\b")),
    Pattern("alibaba-key", re.compile(token("LTAI", r"[A-Za-z0-9]{20}\b"))),
    Pattern(
        "age-secret-key",
        re.compile(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ),
    Pattern(
        "azure-storage-key",
        re.compile(
            r"(?:AccountKey|SharedAccessKey|SharedSecretValue)=(?P<value>[A-Za-z0-9+/=]{20,256})"
        ),
        group="value",
    ),
    # Shared access signatures: the signature is the secret, the rest of the URL is not.
    Pattern(
        "azure-sas",
        re.compile(r"[?&]sig=(?P<value>[A-Za-z0-9%+/=]{20,256})"),
        group="value",
    ),
    Pattern(
        "jwt",
        re.compile(
            token(
                "eyJ", r"[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{10,4096}"
            )
        ),
    ),
    Pattern(
        "bearer-token",
        re.compile(
            token("Bearer", r"[ \t]{1,4}(?P<value>[A-Za-z0-9._~+/-]{20,4096}=*)", "A-Za-z0-9_"),
        ),
        group="value",
    ),
    # scheme://user:password@host. The scheme is bounded and may not start inside a longer
    # run of its own characters; the user info may not hold a slash, so no start reads past
    # the next one.
)


def find(text: str) -> list[tuple[int, int, int, str]]:
    """(start, priority, end, kind) of every token; an earlier pattern has priority."""
    found = []
    for priority, pattern in enumerate(PATTERNS):
        for match in pattern.regex.finditer(text):
            start, end = match.span(pattern.group) if pattern.group else match.span()
            found.append((start - pattern.back, priority, end, pattern.kind))
    return found
