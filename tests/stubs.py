"""Stand-ins for GitHub and the LLM at the HTTP level, built from GitHub's own examples."""

import copy
import json
from typing import Any

import responses

from tests.fixtures import github_response

API = "https://api.github.test"
LLM = "https://llm.test/api/v1"


def pull_request_json(
    *, repo: str, number: int, head_sha: str, state: str = "open", merged: bool = False, **extra
) -> dict[str, Any]:
    data = copy.deepcopy(github_response("pulls.get.200.default.json"))
    owner = repo.split("/")[0]
    data.update(
        number=number,
        state=state,
        merged=merged,
        draft=False,
        title=extra.get("title", "Add widgets"),
        body=extra.get("body", "Adds the widget registry."),
        html_url=f"https://github.com/{repo}/pull/{number}",
    )
    data["head"]["sha"] = head_sha
    data["base"]["sha"] = "b" * 40
    data["user"]["login"] = owner
    return data


def comment_json(comment_id: int, body: str, repo: str = "octo/widgets") -> dict[str, Any]:
    data = copy.deepcopy(github_response("issues.create-comment.201.default.json"))
    data.update(
        id=comment_id,
        body=body,
        html_url=f"https://github.com/{repo}/pull/7#issuecomment-{comment_id}",
    )
    return data


def chat_completion(
    findings: list[dict[str, Any]], summary: str = "Looks mostly fine.", **usage
) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "openai/gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps({"summary": summary, "findings": findings}),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 80, **usage},
    }


def finding(path: str, line: int, **fields) -> dict[str, Any]:
    return {
        "path": path,
        "line": line,
        "end_line": None,
        "category": "bug",
        "severity": "high",
        "title": "Off-by-one in the loop bound",
        "body": "The loop skips the last element.",
        "suggestion": None,
        **fields,
    }


def sent_json(call: responses.Call) -> Any:
    body = call.request.body
    assert body is not None, f"{call.request.method} {call.request.url} sent no body"
    return json.loads(body)


def comment_number(analysis: Any) -> int | None:
    """The id of the comment an analysis was posted as, read back from its URL."""
    _, _, number = analysis.comment_url.rpartition("#issuecomment-")
    return int(number) if number.isdigit() else None
