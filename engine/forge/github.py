"""GitHub through githubkit (its REST core: auth, rate-limit detection; we read JSON).

githubkit's own retrying and HTTP cache are off: a rate limit or a 5xx becomes
`ForgeWeather`, and the run, not a sleeping thread, waits it out (`weather.ride_out`).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx
from githubkit import GitHub
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

from andon.engine.forge.client import CheckRun, Checks, MergeOutcome, PullRequest, State
from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import ForgeError, ForgePermission, ForgeWeather

TIMEOUT = 30.0
# What each call needs, for the error that names it (fine-grained / classic token).
PERMISSION = {
    "branch": "Contents: read (classic: repo)",
    "pulls": "Pull requests: read (classic: repo)",
    "open": "Pull requests: write (classic: repo)",
    "statuses": "Commit statuses: read and Checks: read (classic: repo)",
    "reviews": "Pull requests: read (classic: repo)",
    "merge": "Contents: write and Pull requests: write (classic: repo)",
}
_CHECK_STATE: dict[str, State] = {
    "success": "success", "neutral": "success", "skipped": "success",
    "failure": "failure", "cancelled": "failure", "timed_out": "failure",
    "action_required": "failure", "stale": "failure", "startup_failure": "failure",
}
_STATUS_STATE: dict[str, State] = {"success": "success", "pending": "pending",
                                   "failure": "failure", "error": "failure"}


class GitHubForge:
    name = "GitHub"

    def __init__(self, settings: ForgeSettings, token: str) -> None:
        self.settings = settings
        self.repo = "/repos/" + "/".join(quote(p, safe="") for p in
                                         settings.project.split("/", 1))
        self.gh = GitHub(token, base_url=settings.api, timeout=TIMEOUT, auto_retry=False,
                         http_cache=False, trust_env=False, user_agent="andon")

    def close(self) -> None:
        pass  # githubkit opens an HTTP client per request outside a `with` block

    # -- requests ---------------------------------------------------------------------

    def _call(self, what: str, method: str, path: str, *, ok: tuple[int, ...] = (),
              **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON) of one request; statuses in `ok` are answers, not errors."""
        try:
            resp = self.gh.request(method, self.repo + path, **kwargs)
            return resp.status_code, _json(resp.raw_response)
        except RateLimitExceeded as exc:
            kind = type(exc).__name__.replace("RateLimitExceeded", "").lower()
            raise ForgeWeather(f"GitHub {kind} rate limit ({exc.response.status_code})",
                               exc.retry_after.total_seconds()) from None
        except RequestFailed as exc:
            raw = exc.response.raw_response
            status = raw.status_code
            if status in ok:
                return status, _json(raw)
            message = str((_json(raw) or {}).get("message", "")) or raw.reason_phrase
            if status >= 500 or status == 429 or "rate limit" in message.lower():
                raise ForgeWeather(f"GitHub answered {status} ({message})",
                                   _retry_after(raw)) from None
            if status == 401:
                raise ForgePermission(f"GitHub refused the token ({message}): set "
                                      f"{self.settings.token_env} to a valid token") from None
            if status in (403, 404):
                raise ForgePermission(
                    f"GitHub refused {what} on {self.settings.project} ({status}: "
                    f"{message}): the token needs {PERMISSION[what]}") from None
            raise ForgeError(f"GitHub refused {what} on {self.settings.project} "
                             f"({status}: {message})") from None
        except RequestError as exc:  # timeouts, refused connections, broken answers
            raise ForgeWeather(f"GitHub unreachable ({type(exc.exc).__name__})") from None

    # -- the Forge protocol -----------------------------------------------------------

    def branch_head(self, branch: str) -> str | None:
        status, data = self._call("branch", "GET", f"/branches/{quote(branch, safe='')}",
                                  ok=(404,))
        return None if status == 404 else str(data["commit"]["sha"])

    def required_checks(self, base: str) -> list[str]:
        """The status checks branch protection requires on `base` ([] when none)."""
        status, data = self._call("branch", "GET", f"/branches/{quote(base, safe='')}",
                                  ok=(404,))
        if status == 404:
            raise ForgeError(f"GitHub has no branch {base!r} in {self.settings.project}")
        rules = ((data.get("protection") or {}).get("required_status_checks") or {})
        names = list(rules.get("contexts") or [])
        names += [c["context"] for c in rules.get("checks") or []
                  if c.get("context") not in names]
        return names

    def find_pull(self, branch: str, base: str) -> PullRequest | None:
        owner = self.settings.project.split("/", 1)[0]
        _, data = self._call("pulls", "GET", "/pulls", params={
            "head": f"{owner}:{branch}", "base": base, "state": "all"})
        pulls = [p for p in data if p["head"]["ref"] == branch]
        return _pull(max(pulls, key=lambda p: p["number"])) if pulls else None

    def open_pull(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        _, data = self._call("open", "POST", "/pulls", json={
            "title": title, "head": branch, "base": base, "body": body})
        return _pull(data)

    def update_pull(self, number: int, title: str, body: str) -> PullRequest:
        _, data = self._call("open", "PATCH", f"/pulls/{number}",
                             json={"title": title, "body": body})
        return _pull(data)

    def get_pull(self, number: int) -> PullRequest:
        _, data = self._call("pulls", "GET", f"/pulls/{number}")
        return _pull(data)

    def checks(self, sha: str, required: list[str]) -> Checks:
        """Commit statuses and check runs on `sha`, the newest of each name."""
        runs: dict[str, CheckRun] = {}
        _, combined = self._call("statuses", "GET", f"/commits/{sha}/status")
        for st in combined.get("statuses") or []:  # newest first
            runs.setdefault(st["context"], CheckRun(
                st["context"], _STATUS_STATE.get(st["state"], "pending"),
                st.get("description") or "", st.get("target_url") or ""))
        _, found = self._call("statuses", "GET", f"/commits/{sha}/check-runs",
                              params={"filter": "latest", "per_page": 100})
        for run in found.get("check_runs") or []:
            state: State = ("pending" if run.get("status") != "completed" else
                            _CHECK_STATE.get(run.get("conclusion") or "", "failure"))
            output = run.get("output") or {}
            detail = "\n".join(dict.fromkeys(  # the title is often the summary again
                x for x in (output.get("title"), output.get("summary")) if x))
            runs[run["name"]] = CheckRun(run["name"], state, detail,
                                         run.get("details_url") or "")
        return Checks(required=required, runs=runs)

    def approvals(self, number: int, head: str) -> list[str]:
        """Who approved this head: each reviewer's latest verdict counts."""
        _, reviews = self._call("reviews", "GET", f"/pulls/{number}/reviews",
                                params={"per_page": 100})
        latest: dict[str, dict[str, Any]] = {}
        for review in reviews:
            if review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[review["user"]["login"]] = review
        return sorted(login for login, r in latest.items()
                      if r["state"] == "APPROVED" and r.get("commit_id") == head)

    def merge(self, number: int, head: str, title: str, message: str) -> MergeOutcome:
        """GitHub's merge of exactly `head` (it refuses when the branch moved)."""
        status, data = self._call("merge", "PUT", f"/pulls/{number}/merge", ok=(405, 409),
                                  json={"sha": head, "merge_method": "merge",
                                        "commit_title": title, "commit_message": message})
        text = str((data or {}).get("message", ""))
        if status == 409:
            return MergeOutcome(False, refused="head moved", detail=text)
        if status == 405 or not data.get("merged"):
            return MergeOutcome(False, refused="not mergeable", detail=text)
        return MergeOutcome(True, sha=str(data["sha"]), detail=text)


def _pull(data: dict[str, Any]) -> PullRequest:
    state: Literal["open", "closed", "merged"] = (
        "merged" if data.get("merged_at") or data.get("merged")
        else "open" if data["state"] == "open" else "closed")
    return PullRequest(number=int(data["number"]), url=str(data.get("html_url", "")),
                       head=str(data["head"]["sha"]), base=str(data["base"]["ref"]),
                       state=state, merge_commit=data.get("merge_commit_sha")
                       if state == "merged" else None)


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None
