"""GitLab through python-gitlab (its HTTP layer: auth, URL encoding, errors).

python-gitlab's own sleeping on 429 and retrying of 5xx are off: they become
`ForgeWeather`, and the run waits them out (`weather.ride_out`). The last answer's
`Retry-After` is kept by a response hook, since its errors do not carry headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import gitlab
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabHttpError

from andon.engine.forge.client import CheckRun, Checks, MergeOutcome, PullRequest, State
from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import ForgeError, ForgePermission, ForgeWeather

TIMEOUT = 30.0
PIPELINE = "pipeline"  # the required check when "Pipelines must succeed" is on
PERMISSION = {
    "project": "the read_api scope and at least the Reporter role",
    "branch": "the read_api scope and at least the Reporter role",
    "pulls": "the read_api scope and at least the Reporter role",
    "open": "the api scope and at least the Developer role",
    "statuses": "the read_api scope and at least the Reporter role",
    "reviews": "the read_api scope and at least the Reporter role",
    "merge": "the api scope and a role allowed to merge into the protected branch "
             "(Maintainer by default)",
}
_STATE: dict[str, State] = {
    "success": "success", "skipped": "success", "failed": "failure",
    "canceled": "failure", "canceling": "failure",
}


class GitLabForge:
    name = "GitLab"

    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        self.project = "/projects/" + quote(settings.project, safe="")
        self.gl = gitlab.Gitlab(settings.api, private_token=token, timeout=TIMEOUT,
                                retry_transient_errors=False, user_agent="andon")
        self.gl.session.trust_env = False
        self._retry_after: float | None = None
        self.gl.session.hooks["response"].append(self._remember)

    def close(self) -> None:
        self.gl.session.close()

    def _remember(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        value = resp.headers.get("Retry-After", "")
        self._retry_after = float(value) if value.replace(".", "", 1).isdigit() else None

    def _call(self, what: str, method: str, path: str, *, ok: tuple[int, ...] = (),
              **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON) of one request; statuses in `ok` are answers, not errors."""
        try:
            resp = self.gl.http_request(method, self.project + path, obey_rate_limit=False,
                                        max_retries=0, **kwargs)
            return resp.status_code, resp.json() if resp.content else None
        except GitlabAuthenticationError as exc:
            raise ForgePermission(f"GitLab refused the token ({exc.error_message}): set "
                                  f"{self.settings.token_env} to a valid token") from None
        except GitlabHttpError as exc:
            status = exc.response_code or 0
            message = str(exc.error_message)
            if status in ok:
                return status, {"message": message}
            if status >= 500 or status == 429:
                raise ForgeWeather(f"GitLab answered {status} ({message})",
                                   self._retry_after) from None
            if status in (403, 404) and what != "merge":
                raise ForgePermission(
                    f"GitLab refused {what} on {self.settings.project} ({status}: "
                    f"{message}): the token needs {PERMISSION[what]}") from None
            if status == 403:
                raise ForgePermission(
                    f"GitLab refused to merge in {self.settings.project} ({message}): the "
                    f"token needs {PERMISSION['merge']}") from None
            raise ForgeError(f"GitLab refused {what} on {self.settings.project} "
                             f"({status}: {message})") from None
        except (requests.ConnectionError, requests.Timeout,
                gitlab.exceptions.GitlabConnectionError) as exc:
            raise ForgeWeather(f"GitLab unreachable ({type(exc).__name__})") from None

    # -- the Forge protocol -----------------------------------------------------------

    def branch_head(self, branch: str) -> str | None:
        status, data = self._call("branch", "get",
                                  f"/repository/branches/{quote(branch, safe='')}",
                                  ok=(404,))
        return None if status == 404 else str(data["commit"]["id"])

    def required_checks(self, base: str) -> list[str]:
        _, data = self._call("project", "get", "")
        return [PIPELINE] if data.get("only_allow_merge_if_pipeline_succeeds") else []

    def find_pull(self, branch: str, base: str) -> PullRequest | None:
        _, data = self._call("pulls", "get", "/merge_requests", query_data={
            "source_branch": branch, "target_branch": base, "state": "all"})
        found = [p for p in data if p["source_branch"] == branch]
        return _pull(max(found, key=lambda p: p["iid"])) if found else None

    def open_pull(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        _, data = self._call("open", "post", "/merge_requests", post_data={
            "source_branch": branch, "target_branch": base, "title": title,
            "description": body})
        return _pull(data)

    def update_pull(self, number: int, title: str, body: str) -> PullRequest:
        _, data = self._call("open", "put", f"/merge_requests/{number}",
                             post_data={"title": title, "description": body})
        return _pull(data)

    def get_pull(self, number: int) -> PullRequest:
        _, data = self._call("pulls", "get", f"/merge_requests/{number}")
        return _pull(data)

    def checks(self, sha: str, required: list[str]) -> Checks:
        """The newest pipeline of `sha` (as "pipeline") and each job's status."""
        runs: dict[str, CheckRun] = {}
        _, statuses = self._call("statuses", "get", f"/repository/commits/{sha}/statuses")
        for st in statuses or []:  # newest first, per GitLab
            runs.setdefault(st["name"], CheckRun(
                st["name"], _STATE.get(st["status"], "pending"),
                st.get("description") or "", st.get("target_url") or ""))
        _, pipelines = self._call("statuses", "get", "/pipelines",
                                  query_data={"sha": sha, "order_by": "id", "sort": "desc"})
        if pipelines:
            newest = pipelines[0]
            state = _STATE.get(newest["status"], "pending")
            failed = [f"{r.name}: {r.detail or 'failed'}" for r in runs.values()
                      if r.state == "failure"]
            detail = f"pipeline {newest['id']}: {newest['status']}"
            if failed:  # what the agent needs is which jobs failed, and their words
                detail += "\n" + "\n".join(failed)
            runs[PIPELINE] = CheckRun(PIPELINE, state, detail, newest.get("web_url") or "")
        return Checks(required=required, runs=runs)

    def approvals(self, number: int, head: str) -> list[str]:
        _, data = self._call("reviews", "get", f"/merge_requests/{number}/approvals")
        return sorted(a["user"]["username"] for a in data.get("approved_by") or [])

    def merge(self, number: int, head: str, title: str, message: str) -> MergeOutcome:
        """GitLab's merge of exactly `head` (409 when the source branch moved)."""
        status, data = self._call("merge", "put", f"/merge_requests/{number}/merge",
                                  ok=(405, 406, 409, 422), post_data={
                                      "sha": head, "squash": False,
                                      "merge_commit_message": f"{title}\n\n{message}"})
        text = str((data or {}).get("message", ""))
        if status == 409:
            return MergeOutcome(False, refused="head moved", detail=text)
        if status != 200 or data.get("state") != "merged":
            return MergeOutcome(False, refused="not mergeable", detail=text)
        return MergeOutcome(True, sha=str(data.get("merge_commit_sha")), detail=text)


def _pull(data: dict[str, Any]) -> PullRequest:
    state = {"opened": "open", "merged": "merged"}.get(data["state"], "closed")
    return PullRequest(number=int(data["iid"]), url=str(data.get("web_url", "")),
                       head=str(data["sha"]), base=str(data["target_branch"]),
                       state=state,  # type: ignore[arg-type]
                       merge_commit=data.get("merge_commit_sha") if state == "merged"
                       else None)
