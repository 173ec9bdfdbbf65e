"""A stand-in of the GitLab REST API (v4): merge requests, pipelines and commit
statuses, "pipelines must succeed", approvals, and the merge with an expected head."""

from __future__ import annotations

from typing import Any

from tests.support.forge.server import Answer, StandIn

P = r"/projects/(?P<project>[^/]+)"


class GitLabStandIn(StandIn):
    prefix = "/api/v4"
    routes = [
        ("GET", P, "project_info"),
        ("GET", P + r"/repository/branches/(?P<branch>[^/]+)", "branch"),
        ("GET", P + r"/merge_requests", "list_pulls"),
        ("POST", P + r"/merge_requests", "create_pull"),
        ("GET", P + r"/merge_requests/(?P<iid>\d+)", "get_pull"),
        ("PUT", P + r"/merge_requests/(?P<iid>\d+)", "update_pull"),
        ("GET", P + r"/merge_requests/(?P<iid>\d+)/approvals", "approvals"),
        ("PUT", P + r"/merge_requests/(?P<iid>\d+)/merge", "merge"),
        ("GET", P + r"/pipelines", "pipelines"),
        ("GET", P + r"/repository/commits/(?P<sha>[0-9a-f]+)/statuses", "statuses"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mrs: dict[int, dict[str, Any]] = {}
        self.pipelines_must_succeed = False
        self.approved_by: dict[int, list[str]] = {}
        self.merged_messages: list[str] = []

    def authorized(self, headers: Any) -> bool:
        return headers.get("PRIVATE-TOKEN", "") == self.token

    def _json(self, mr: dict[str, Any]) -> dict[str, Any]:
        sha = mr["merged_head"] or self.head_of(mr["source"]) or ""
        return {"iid": mr["iid"], "state": mr["state"], "title": mr["title"],
                "description": mr["description"], "sha": sha,
                "source_branch": mr["source"], "target_branch": mr["target"],
                "web_url": f"{self.url}/{self.project}/-/merge_requests/{mr['iid']}",
                "merge_commit_sha": mr["merge_commit"]}

    def _pipeline(self, sha: str) -> str | None:
        """The pipeline's status on a commit: failed if any job failed, running while
        any is pending, success when all passed; None when CI reported nothing."""
        jobs = [s for s, _ in self.ci_of(sha).values()]
        if not jobs:
            return None
        if "failure" in jobs:
            return "failed"
        return "running" if "pending" in jobs else "success"

    # -- routes -----------------------------------------------------------------------

    def project_info(self, project: str, **_: Any) -> Answer:
        if project != self.project:
            return 404, {"message": "404 Project Not Found"}, {}
        return 200, {"id": 1, "path_with_namespace": self.project,
                     "only_allow_merge_if_pipeline_succeeds":
                         self.pipelines_must_succeed}, {}

    def branch(self, branch: str, **_: Any) -> Answer:
        sha = self.head_of(branch)
        if sha is None:
            return 404, {"message": "404 Branch Not Found"}, {}
        return 200, {"name": branch, "commit": {"id": sha}}, {}

    def list_pulls(self, query: dict[str, str], **_: Any) -> Answer:
        with self.lock:
            found = [self._json(mr) for mr in self.mrs.values()
                     if mr["source"] == query.get("source_branch", mr["source"])
                     and query.get("state", "all") in ("all", mr["state"])]
        return 200, found, {}

    def create_pull(self, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            if any(mr["source"] == body["source_branch"] and mr["state"] == "opened"
                   for mr in self.mrs.values()):
                return 409, {"message": ["Another open merge request already exists"]}, {}
            iid = len(self.mrs) + 1
            self.mrs[iid] = {"iid": iid, "source": body["source_branch"],
                             "target": body["target_branch"], "title": body["title"],
                             "description": body.get("description") or "",
                             "state": "opened", "merged_head": None, "merge_commit": None}
            return 201, self._json(self.mrs[iid]), {}

    def get_pull(self, iid: str, **_: Any) -> Answer:
        mr = self.mrs.get(int(iid))
        return (200, self._json(mr), {}) if mr else (404, {"message": "404 Not found"}, {})

    def update_pull(self, iid: str, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            mr = self.mrs.get(int(iid))
            if mr is None:
                return 404, {"message": "404 Not found"}, {}
            mr.update({k: v for k, v in body.items() if k in ("title", "description")})
            return 200, self._json(mr), {}

    def approvals(self, iid: str, **_: Any) -> Answer:
        users = self.approved_by.get(int(iid), [])
        return 200, {"approved_by": [{"user": {"username": u}} for u in users]}, {}

    def pipelines(self, query: dict[str, str], **_: Any) -> Answer:
        sha = query.get("sha", "")
        status = self._pipeline(sha)
        if status is None:
            return 200, [], {}
        return 200, [{"id": 7, "sha": sha, "status": status,
                      "web_url": f"{self.url}/pipelines/7"}], {}

    def statuses(self, sha: str, **_: Any) -> Answer:
        status = {"success": "success", "failure": "failed", "pending": "running"}
        return 200, [{"name": n, "status": status[s], "description": d,
                      "target_url": f"{self.url}/jobs/{n}"}
                     for n, (s, d) in self.ci_of(sha).items()], {}

    def merge(self, iid: str, body: dict[str, Any], **_: Any) -> Answer:
        with self.lock:
            mr = self.mrs.get(int(iid))
            if mr is None:
                return 404, {"message": "404 Not found"}, {}
            if mr["state"] != "opened":
                return 405, {"message": "405 Method Not Allowed"}, {}
            head = self.head_of(mr["source"]) or ""
            if body.get("sha") and body["sha"] != head:
                return 409, {"message": "SHA does not match HEAD of source branch: "
                                        f"{head}"}, {}
            if self.pipelines_must_succeed and self._pipeline(head) != "success":
                return 405, {"message": "405 Method Not Allowed"}, {}
            message = str(body.get("merge_commit_message") or "")
            new = self.merge_branch(mr["target"], head, message)
            if new is None:
                return 406, {"message": "Branch cannot be merged"}, {}
            mr.update(state="merged", merged_head=head, merge_commit=new)
            self.merged_messages.append(message)
            return 200, self._json(mr), {}
