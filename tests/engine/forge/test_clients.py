"""The GitHub (githubkit) and GitLab (python-gitlab) clients against loopback
stand-ins of their REST APIs, over a real bare repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.forge.client import Forge
from andon.engine.forge.connect import open_forge
from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import Backoff, ForgePermission, ForgeWeather, ride_out
from tests.conftest import git
from tests.engine.forge.conftest import PROJECT, TOKEN, push_branch
from tests.support.forge import GitHubStandIn, StandIn


def require_ci(forge: StandIn) -> str:
    """Turn on the required CI; returns the name of the check the forge requires."""
    if isinstance(forge, GitHubStandIn):
        forge.required = ["ci"]
        return "ci"
    forge.pipelines_must_succeed = True  # type: ignore[attr-defined]
    return "pipeline"


@pytest.fixture
def client(forge_kind: str, stand_in: StandIn,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Forge]:
    monkeypatch.setenv("FORGE_TEST_TOKEN", TOKEN)
    settings = ForgeSettings(kind=forge_kind, project=PROJECT, api=stand_in.url,
                             token_env="FORGE_TEST_TOKEN")
    forge = open_forge(settings)
    yield forge
    forge.close()


def test_a_pull_request_is_opened_found_and_updated(
        client: Forge, stand_in: StandIn, remote: tuple[Path, Path]) -> None:
    work, _ = remote
    head = push_branch(work, "andon/1", "a.txt", "a\n")
    assert client.find_pull("andon/1", "main") is None

    pr = client.open_pull("andon/1", "main", "Add a", "the spec")
    assert (pr.state, pr.head, pr.base) == ("open", head, "main")
    assert client.find_pull("andon/1", "main") == pr
    updated = client.update_pull(pr.number, "Add a (2)", "the spec, again")
    assert updated.number == pr.number
    assert client.branch_head("andon/1") == head
    assert client.branch_head("no-such-branch") is None


def test_required_checks_read_green_pending_and_failing(
        client: Forge, stand_in: StandIn, remote: tuple[Path, Path]) -> None:
    work, _ = remote
    head = push_branch(work, "andon/2", "b.txt", "b\n")
    assert client.required_checks("main") == []
    name = require_ci(stand_in)
    required = client.required_checks("main")
    assert required == [name]

    assert client.checks(head, required).state == "pending"  # nothing reported yet
    verdict = {"ci": ("pending", "running")}
    stand_in.ci = lambda sha: verdict
    assert client.checks(head, required).waiting == [name]
    verdict["ci"] = ("failure", "2 tests failed")
    checks = client.checks(head, required)
    assert checks.state == "failure" and [r.name for r in checks.failing] == [name]
    verdict["ci"] = ("success", "all passed")
    assert client.checks(head, required).state == "success"


def test_the_merge_is_of_the_expected_head_only(
        client: Forge, stand_in: StandIn, remote: tuple[Path, Path]) -> None:
    work, bare = remote
    old = push_branch(work, "andon/3", "c.txt", "c\n")
    pr = client.open_pull("andon/3", "main", "Add c", "")
    new = push_branch(work, "andon/3", "c.txt", "c moved\n")  # someone pushed meanwhile

    refused = client.merge(pr.number, old, "Merge run 3", "Andon-Run: 3")
    assert (refused.merged, refused.refused) == (False, "head moved")
    assert git(bare, "rev-parse", "main") == git(work, "rev-parse", "main")  # untouched

    done = client.merge(pr.number, new, "Merge run 3", "Andon-Run: 3")
    assert done.merged and done.sha == git(bare, "rev-parse", "main")
    assert "Andon-Run: 3" in git(bare, "log", "-1", "--format=%B", "main")
    merged = client.get_pull(pr.number)
    assert (merged.state, merged.merge_commit) == ("merged", done.sha)
    assert stand_in.calls["merge"] == 2


def test_a_merge_the_required_checks_do_not_allow_is_refused(
        client: Forge, stand_in: StandIn, remote: tuple[Path, Path]) -> None:
    work, _ = remote
    head = push_branch(work, "andon/4", "d.txt", "d\n")
    require_ci(stand_in)
    stand_in.ci = lambda sha: {"ci": ("failure", "red")}
    pr = client.open_pull("andon/4", "main", "Add d", "")
    outcome = client.merge(pr.number, head, "Merge", "")
    assert (outcome.merged, outcome.refused) == (False, "not mergeable")


def test_approvals_name_who_approved(client: Forge, stand_in: StandIn,
                                     remote: tuple[Path, Path]) -> None:
    work, _ = remote
    head = push_branch(work, "andon/5", "e.txt", "e\n")
    pr = client.open_pull("andon/5", "main", "Add e", "")
    assert client.approvals(pr.number, head) == []
    if isinstance(stand_in, GitHubStandIn):
        stand_in.approve(pr.number, "alice", head)
        stand_in.approve(pr.number, "bob", "0" * 40)  # approved an older head
    else:
        stand_in.approved_by[pr.number] = ["alice"]  # type: ignore[attr-defined]
    assert client.approvals(pr.number, head) == ["alice"]


# -- weather and permissions ---------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503])
def test_rate_limits_and_server_errors_are_weather_with_the_asked_wait(
        client: Forge, stand_in: StandIn, status: int) -> None:
    stand_in.fault("branch", status, {"message": "slow down"}, {"Retry-After": "7"})
    with pytest.raises(ForgeWeather) as caught:
        client.branch_head("main")
    assert caught.value.retry_after == 7.0
    assert client.branch_head("main")  # the next answer is fine again


def test_a_secondary_rate_limit_is_weather(client: Forge, stand_in: StandIn,
                                           forge_kind: str) -> None:
    if forge_kind == "gitlab":
        pytest.skip("GitLab has no secondary rate limit: it answers 429")
    stand_in.fault("branch", 403, {"message": "You have exceeded a secondary rate limit"},
                   {"Retry-After": "3"})
    with pytest.raises(ForgeWeather, match="secondary"):
        client.branch_head("main")


def test_an_outage_is_weather(client: Forge, stand_in: StandIn) -> None:
    stand_in.hold("branch", drop=True).release.set()  # the answer never comes
    with pytest.raises(ForgeWeather, match="unreachable"):
        client.branch_head("main")


def test_a_token_without_permission_gets_one_error_naming_it(
        client: Forge, stand_in: StandIn, remote: tuple[Path, Path],
        forge_kind: str) -> None:
    work, _ = remote
    push_branch(work, "andon/6", "f.txt", "f\n")
    stand_in.deny("create_pull", "Resource not accessible by personal access token")
    with pytest.raises(ForgePermission) as caught:
        client.open_pull("andon/6", "main", "Add f", "")
    needed = "Pull requests: write" if forge_kind == "github" else "the api scope"
    assert needed in str(caught.value) and PROJECT in str(caught.value)


def test_a_refused_token_names_the_variable(stand_in: StandIn, forge_kind: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGE_TEST_TOKEN", "wrong")
    forge = open_forge(ForgeSettings(kind=forge_kind, project=PROJECT, api=stand_in.url,
                                     token_env="FORGE_TEST_TOKEN"))
    with pytest.raises(ForgePermission, match="FORGE_TEST_TOKEN"):
        forge.branch_head("main")
    monkeypatch.delenv("FORGE_TEST_TOKEN")
    with pytest.raises(ForgePermission, match="set FORGE_TEST_TOKEN"):
        open_forge(ForgeSettings(kind=forge_kind, project=PROJECT, api=stand_in.url,
                                 token_env="FORGE_TEST_TOKEN"))


def test_ride_out_holds_through_weather_and_tells_each_wait(
        client: Forge, stand_in: StandIn) -> None:
    stand_in.fault("branch", 503, {"message": "down"}, times=2)
    held: list[tuple[str, float]] = []
    waited: list[float] = []
    cleared: list[bool] = []
    head = ride_out(lambda: client.branch_head("main"), wait=waited.append,
                    on_hold=lambda w, s: held.append((w.reason, s)),
                    on_clear=lambda: cleared.append(True), backoff=Backoff(1.0, 1.5))
    assert head and stand_in.calls["branch"] == 3
    assert waited == [1.0, 1.5] and [s for _, s in held] == waited
    assert all("503" in reason for reason, _ in held) and cleared == [True]
