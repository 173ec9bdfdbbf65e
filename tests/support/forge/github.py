"""A stand-in of the GitHub REST API: pull requests, statuses and check runs, branch
protection's required checks, reviews, and the merge with an expected head."""

from __future__ import annotations

from typing import Any

from tests.support.forge.server import Answer, StandIn

R = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class GitHubStandIn(StandIn):
    routes = [
        ("GET", R + r"/branches/(?P<branch>[^/]+)", "branch"),
        ("GET", R + r"/pulls", "list_pulls"),
        ("POST", R + r"/pulls", "create_pull"),
        ("GET", R + r"/pulls/(?P<number>\d+)", "get_pull"),
        ("PATCH", R + r"/pulls/(?P<number>\d+)", "update_pull"),
        ("GET", R + r"/pulls/(?P<number>\d+)/reviews", "reviews"),
        ("PUT", R + r"/pulls/(?P<number>\d+)/merge", "merge"),
        ("GET", R + r"/commits/(?P<sha>[0-9a-f]+)/status", "status"),
        ("GET", R + r"/commits/(?P<sha>[0-9a-f]+)/check-runs", "check_runs"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pulls: dict[int, dict[str, Any]] = {}
        self.required: list[str] = []
        self.statuses: dict[str, list[dict[str, Any]]] = {}  # sha -> newest first
        self.given_reviews: dict[int, list[dict[str, Any]]] = {}
        self.merged_messages: list[str] = []

    def authorized(self, headers: Any) -> bool:
        return headers.get("Authorization", "") in (f"token {self.token}",
                                                    f"Bearer {self.token}")

    # -- arranging --------------------------------------------------------------------

    def set_status(self, sha: str, context: str, state: str, description: str = "") -> None:
        with self.lock:
            self.statuses.setdefault(sha, []).insert(0, {
                "context": context, "state": state, "description": description,
                "target_url": f"{self.url}/ci/{sha[:7]}"})

    def approve(self, number: int, login: str, commit: str,
                state: str = "APPROVED") -> None:
        with self.lock:
            self.given_reviews.setdefault(number, []).append(
                {"user": {"login": login}, "state": state, "commit_id": commit})

    # -- routes -----------------------------------------------------------------------

    def _check(self, owner: str, name: str) -> Answer | None:
        if f"{owner}/{name}" != self.project:
            return 404, {"message": "Not Found"}, {}
        return None

    def branch(self, owner: str, name: str, branch: str, **_: Any) -> Answer:
        sha = self.head_of(branch)
        if sha is None or self._check(owner, name):
            return 404, {"message": "Branch not found"}, {}
        protection: dict[str, Any] = {"enabled": bool(self.required)}
        if self.required:
            protection["required_status_checks"] = {
                "enforcement_level": "everyone", "contexts": list(self.required),
                "checks": [{"context": c, "app_id": None} for c in self.required]}
        return 200, {"name": branch, "commit": {"sha": sha},
                     "protected": bool(self.required), "protection": protection}, {}

    def _json(self, pr: dict[str, Any]) -> dict[str, Any]:
        head = pr["merged_head"] or self.head_of(pr["branch"]) or ""
        return {"number": pr["number"], "state": pr["state"], "title": pr["title"],
                "body": pr["body"], "html_url": f"{self.url}/{self.project}/pull/"
                f"{pr['number']}", "head": {"ref": pr["branch"], "sha": head},
                "base": {"ref": pr["base"]}, "merged": pr["merged_head"] is not None,
                "merged_at": "2026-01-01T00:00:00Z" if pr["merged_head"] else None,
                "merge_commit_sha": pr["merge_commit"]}

    def list_pulls(self, owner: str, name: str, query: dict[str, str], **_: Any) -> Answer:
        head = query.get("head", "").split(":", 1)[-1]
        with self.lock:
            found = [self._json(p) for p in self.pulls.values()
                     if (not head or p["branch"] == head)
                     and query.get("state", "open") in ("all", p["state"])]
        return 200, found, {}

    def create_pull(self, owner: str, name: str, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            if self.head_of(body["head"]) is None:
                return 422, {"message": "Validation Failed"}, {}
            if any(p["branch"] == body["head"] and p["state"] == "open"
                   for p in self.pulls.values()):
                return 422, {"message": "A pull request already exists"}, {}
            number = len(self.pulls) + 1
            self.pulls[number] = {"number": number, "branch": body["head"],
                                  "base": body["base"], "title": body["title"],
                                  "body": body.get("body") or "", "state": "open",
                                  "merged_head": None, "merge_commit": None}
            return 201, self._json(self.pulls[number]), {}

    def get_pull(self, number: str, **_: Any) -> Answer:
        pr = self.pulls.get(int(number))
        return (200, self._json(pr), {}) if pr else (404, {"message": "Not Found"}, {})

    def update_pull(self, number: str, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            pr = self.pulls.get(int(number))
            if pr is None:
                return 404, {"message": "Not Found"}, {}
            pr.update({k: v for k, v in body.items() if k in ("title", "body")})
            return 200, self._json(pr), {}

    def reviews(self, number: str, **_: Any) -> Answer:
        return 200, list(self.given_reviews.get(int(number), [])), {}

    def status(self, sha: str, **_: Any) -> Answer:
        statuses = list(self.statuses.get(sha, []))
        return 200, {"sha": sha, "statuses": statuses, "state": "pending"}, {}

    def check_runs(self, sha: str, **_: Any) -> Answer:
        runs = [{"name": n, "status": "completed" if s != "pending" else "in_progress",
                 "conclusion": None if s == "pending" else s,
                 "output": {"title": d, "summary": d},
                 "details_url": f"{self.url}/runs/{n}"}
                for n, (s, d) in self.ci_of(sha).items()]
        return 200, {"total_count": len(runs), "check_runs": runs}, {}

    def _green(self, sha: str) -> list[str]:
        """The required checks not green on `sha`."""
        seen = {n: s for n, (s, _) in self.ci_of(sha).items()}
        for st in reversed(self.statuses.get(sha, [])):
            seen[st["context"]] = st["state"]
        return [c for c in self.required if seen.get(c) not in ("success", "neutral")]

    def merge(self, number: str, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            pr = self.pulls.get(int(number))
            if pr is None:
                return 404, {"message": "Not Found"}, {}
            if pr["state"] != "open":
                return 405, {"message": "Pull Request is not mergeable"}, {}
            head = self.head_of(pr["branch"]) or ""
            if body.get("sha") and body["sha"] != head:
                return 409, {"message": "Head branch was modified. Review and try the "
                                        "merge again."}, {}
            missing = self._green(head)
            if missing:
                return 405, {"message": f"Required status check \"{missing[0]}\" is "
                                        f"expected."}, {}
            message = f"{body.get('commit_title', '')}\n\n{body.get('commit_message', '')}"
            new = self.merge_branch(pr["base"], head, message)
            if new is None:
                return 405, {"message": "Pull Request is not mergeable"}, {}
            pr.update(state="closed", merged_head=head, merge_commit=new)
            self.merged_messages.append(message)
            return 200, {"sha": new, "merged": True,
                         "message": "Pull Request successfully merged"}, {}
