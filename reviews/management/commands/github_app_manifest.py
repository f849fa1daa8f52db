import json
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils.html import escape

from reviews.installations import manifest

FORM = """<!doctype html>
<meta charset="utf-8">
<title>Create the {name} GitHub App</title>
<form action="{action}" method="post">
  <input type="hidden" name="manifest" value="{manifest}">
  <p>This creates a GitHub App named <b>{name}</b> for {url}.</p>
  <button type="submit">Create the GitHub App on GitHub</button>
</form>
"""


class Command(BaseCommand):
    help = (
        "Print the manifest for GitHub's create-an-App-from-a-manifest flow: the permissions "
        "and events Prism needs, and its webhook URL. See README, 'GitHub App mode'."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            required=True,
            help="Where this Prism is reachable, e.g. https://prism.example.com",
        )
        parser.add_argument(
            "--name", default="Prism", help="The App's name on GitHub (unique, 34 characters)."
        )
        parser.add_argument(
            "--public",
            action="store_true",
            help="Let other accounts install the App (default: only the owner's account).",
        )
        parser.add_argument(
            "--html",
            metavar="ORG",
            nargs="?",
            const="",
            default=None,
            help="Print an HTML page with a form that posts the manifest to GitHub instead: "
            "open it in a browser logged in to GitHub. With ORG, the App belongs to that "
            "organisation; without, to your user.",
        )
        parser.add_argument(
            "--github-url",
            default="https://github.com",
            help="GitHub's web address (GitHub Enterprise Server: https://HOST).",
        )

    def handle(self, *args, url, name, public, html, github_url, **options):
        try:
            described = manifest.build(url, name=name, public=public)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(described, indent=2)
        if html is None:
            self.stdout.write(text)
            return
        if html and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", html):
            raise CommandError(f"{html!r} is not an organisation's login")
        owner = f"/organizations/{html}" if html else ""
        action = f"{github_url.rstrip('/')}{owner}/settings/apps/new"
        self.stdout.write(
            FORM.format(
                name=escape(described["name"]),
                url=escape(described["url"]),
                action=escape(action),
                manifest=escape(json.dumps(described)),
            )
        )
