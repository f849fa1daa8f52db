"""Tokens a pull request costs over its pushes: .venv/bin/python benchmarks/push_sequence.py

A pull request is built from a real diff of the fixtures (default `22-large-release-range`,
54 files, 359 hunks) and replayed as 5 successive pushes, each adding a fifth of its hunks
(by changed lines); one push (default the 3rd) rewrites history, as a rebase or force-push
would, so GitHub's comparison with the last reviewed head says "diverged". Each push is
reviewed by the real pipeline (plan_push, restrict_to_changes, review_files) against a local
OpenAI-compatible stand-in on 127.0.0.1 that answers at once with no findings and counts
the prompt tokens of every request from its size (3.5 bytes of message text a token, as
reviews/diffs/chunking.py estimates).

The hunks of a push are spread over the files in turn (`--split interleaved`, the default:
every push touches most files, the hard case for an incremental review) or taken in the
diff's order (`--split contiguous`: each push touches its own files).

Reported: prompt tokens per push and in total with REVIEW_ON_PUSH=incremental and =full,
against one full review of the final head. Target: the 5 pushes together send at most
1.5x the tokens of that one full review (a full review of every push costs about 3x).
"""

import argparse
import json
import math
import sys
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import setup_django_with_local_model  # noqa: E402

PUSHES = 5
TARGET = 1.5
BASE_SHA = "b" * 40


class CountingModel(BaseHTTPRequestHandler):
    """Answers every chat completion at once, with no findings; counts the prompt tokens."""

    tokens = 0
    calls = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        text = "".join(message["content"] for message in request["messages"])
        tokens = math.ceil(len(text.encode("utf-8")) / 3.5)
        with CountingModel.lock:
            CountingModel.tokens += tokens
            CountingModel.calls += 1
        content = json.dumps({"summary": "Reviewed.", "findings": []})
        body = json.dumps(
            {
                "model": "fake/counting",
                "choices": [
                    {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": tokens, "completion_tokens": 10},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


# --- A pull request replayed push by push ----------------------------------------------


@dataclass(frozen=True)
class HunkId:
    file: int
    hunk: int


class PushSequence:
    """The diff's hunks applied a group at a time. Hunks of one file never overlap, so the
    diff of base..push k is the applied hunks with their new-side lines renumbered, and the
    diff of push k-1..push k is the k-th group with both sides renumbered."""

    def __init__(self, files: list[Any], groups: list[set[HunkId]]) -> None:
        self.files = files
        self.groups = groups

    def applied(self, push: int) -> set[HunkId]:
        return set().union(*self.groups[:push])

    def pr_diff(self, push: int) -> list[Any]:
        """The pull request's diff (against its base) at push 1..5."""
        applied = self.applied(push)
        out = []
        for f, file in enumerate(self.files):
            if not file.hunks:
                out.append(file)  # renames, binaries, mode changes: there from the first push
                continue
            hunks = tuple(
                self._shifted(f, h, old=set(), new=applied)
                for h in range(len(file.hunks))
                if HunkId(f, h) in applied
            )
            if hunks:
                out.append(replace(file, hunks=hunks))
        return out

    def comparison(self, push: int, *, rewritten: bool) -> dict[str, Any]:
        """GitHub's compare of push-1's head with push's head, as JSON."""
        before, after = self.applied(push - 1), self.applied(push)
        entries = []
        for f, file in enumerate(self.files):
            new = [h for h in range(len(file.hunks)) if HunkId(f, h) in self.groups[push - 1]]
            if not new:
                continue
            hunks = [self._shifted(f, h, old=before, new=after) for h in new]
            patch = "\n".join(_patch(hunk) for hunk in hunks)
            status = file.status if file.status in ("added", "removed") else "modified"
            entries.append(
                {
                    "filename": file.path,
                    "status": status,
                    "patch": patch,
                    "additions": sum(1 for h in hunks for ln in h.lines if ln.kind == "+"),
                    "deletions": sum(1 for h in hunks for ln in h.lines if ln.kind == "-"),
                }
            )
        commits = 2
        return {
            "status": "diverged" if rewritten else "ahead",
            "ahead_by": commits,
            "behind_by": 3 if rewritten else 0,
            "total_commits": commits,
            "commits": [{"sha": f"{push:02x}{n:038x}"} for n in range(commits)],
            "files": entries,
        }

    def _offset(self, f: int, h: int, applied: set[HunkId]) -> int:
        hunks = self.files[f].hunks
        return sum(
            hunks[i].new_count - hunks[i].old_count for i in range(h) if HunkId(f, i) in applied
        )

    def _shifted(self, f: int, h: int, *, old: set[HunkId], new: set[HunkId]) -> Any:
        """Hunk h of file f, its old side numbered as in the tree with `old` applied and its
        new side as in the tree with `new` applied."""
        hunk = self.files[f].hunks[h]
        everything = {HunkId(f, i) for i in range(len(self.files[f].hunks))}
        new_shift = self._offset(f, h, new) - self._offset(f, h, everything)
        old_shift = self._offset(f, h, old)
        lines = tuple(
            replace(
                line,
                old_lineno=None if line.old_lineno is None else line.old_lineno + old_shift,
                new_lineno=None if line.new_lineno is None else line.new_lineno + new_shift,
            )
            for line in hunk.lines
        )
        return replace(
            hunk,
            old_start=hunk.old_start + old_shift,
            new_start=hunk.new_start + new_shift,
            lines=lines,
        )


def _patch(hunk: Any) -> str:
    header = f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@"
    body = [f"{line.kind}{line.text}" for line in hunk.lines]
    return "\n".join([f"{header} {hunk.section}".rstrip(), *body])


def split(files: list[Any], how: str) -> list[set[HunkId]]:
    """Five groups of hunks with about a fifth of the changed lines each."""
    ids = [HunkId(f, h) for f, file in enumerate(files) for h in range(len(file.hunks))]
    if how == "interleaved":  # every fifth hunk, so each push reaches across the files
        order = [i for start in range(PUSHES) for i in ids[start::PUSHES]]
    else:
        order = ids
    weight = {i: files[i.file].hunks[i.hunk].changed_lines for i in ids}
    total = sum(weight.values())
    groups: list[set[HunkId]] = [set() for _ in range(PUSHES)]
    done = 0
    for i in order:
        group = min(PUSHES - 1, done * PUSHES // total)
        groups[group].add(i)
        done += weight[i]
    return groups


# --- Reviewing the pushes -----------------------------------------------------------------


def review_pushes(sequence: PushSequence, *, mode: str, rewrite: int) -> list[tuple[int, str]]:
    """Prompt tokens and how each push was reviewed, pushes 1..5, under REVIEW_ON_PUSH=mode."""
    from django.conf import settings

    from reviews.clients import llm_client
    from reviews.diffs import incremental
    from reviews.github import resources
    from reviews.pipeline import review

    heads = [f"{push:02x}" * 20 for push in range(1, PUSHES + 1)]
    out = []
    for push in range(1, PUSHES + 1):
        plan = None
        if push > 1 and mode == "full":
            plan = incremental.PushPlan("full", "REVIEW_ON_PUSH is full")
        elif push > 1:
            comparison = resources.comparison(sequence.comparison(push, rewritten=push == rewrite))
            plan = incremental.plan_push(
                last_reviewed_head=heads[push - 2],
                last_reviewed_base=BASE_SHA,
                head=heads[push - 1],
                base=BASE_SHA,
                comparison=comparison,
            )
        pr = _pull_request(heads[push - 1])
        files = sequence.pr_diff(push)
        if plan is not None and plan.incremental:
            # The replay's own check: what the new commits changed is inside the PR's diff.
            by_path = {file.path: file for file in files}
            assert all(
                by_path[path].commentable(line)
                for path, lines in plan.changed_lines.items()
                for line in lines
            ), f"push {push}: the replayed comparison does not match the PR's diff"
        before = CountingModel.tokens
        result = review.review_files(
            files,
            pr=pr,
            llm=llm_client(),
            timings=review.Timings(),
            plan=plan,
        )
        assert result.usage.prompt_tokens == CountingModel.tokens - before
        assert result.coverage.complete or all(
            s.reason != "over_call_budget" for s in result.coverage.skipped
        ), f"push {push}: over LLM_MAX_CALLS={settings.LLM_MAX_CALLS}"
        how = "first review" if plan is None else f"{plan.mode}: {plan.reason}"
        out.append((CountingModel.tokens - before, how))
    return out


def full_review_of_final_head(sequence: PushSequence) -> int:
    from reviews.clients import llm_client
    from reviews.pipeline import review

    before = CountingModel.tokens
    review.review_files(
        sequence.pr_diff(PUSHES),
        pr=_pull_request(f"{PUSHES:02x}" * 20),
        llm=llm_client(),
        timings=review.Timings(),
    )
    return CountingModel.tokens - before


def _pull_request(head: str) -> Any:
    from reviews.github.resources import PullRequest

    return PullRequest(
        repo_full_name="psf/requests",
        number=1,
        head_sha=head,
        base_sha=BASE_SHA,
        title="Release 2.28.0",
        body="Everything between v2.27.1 and v2.28.0, pushed in five steps.",
        html_url="https://github.com/psf/requests/pull/1",
        author="bench",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diff", default="22-large-release-range", help="fixture diff name")
    parser.add_argument("--split", choices=("interleaved", "contiguous"), default="interleaved")
    parser.add_argument("--rewrite", type=int, default=3, help="the push that rewrites history")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    setup_django_with_local_model(server.server_port)
    from reviews.diffs.parser import parse
    from tests.fixtures import diff_text

    files = parse(diff_text(args.diff))
    sequence = PushSequence(files, split(files, args.split))
    final = full_review_of_final_head(sequence)
    print(
        f"{args.diff}: {len(files)} files, {sum(len(f.hunks) for f in files)} hunks, "
        f"{sum(f.changed_lines for f in files):,} changed lines; {PUSHES} pushes "
        f"({args.split}), push {args.rewrite} rewrites history"
    )
    print(f"one full review of the final head: {final:,} prompt tokens\n")
    totals = {}
    for mode in ("incremental", "full"):
        pushes = review_pushes(sequence, mode=mode, rewrite=args.rewrite)
        totals[mode] = sum(tokens for tokens, _ in pushes)
        print(f"REVIEW_ON_PUSH={mode}")
        for number, (tokens, how) in enumerate(pushes, start=1):
            print(f"  push {number}: {tokens:>8,} tokens  ({how})")
        print(
            f"  total:  {totals[mode]:>8,} tokens = {totals[mode] / final:.2f}x one full review\n"
        )
    server.shutdown()
    ratio = totals["incremental"] / final
    verdict = "met" if ratio <= TARGET else "MISSED"
    full = totals["full"] / final
    print(f"target <= {TARGET}x: {verdict} ({ratio:.2f}x incremental, {full:.2f}x full)")


if __name__ == "__main__":
    main()
