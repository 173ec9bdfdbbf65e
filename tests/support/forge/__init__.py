"""Loopback stand-ins of the GitHub and GitLab REST APIs over real bare git repositories.

They serve real HTTP on 127.0.0.1 to the real client libraries. Faults are ordered by
the test, never by a clock: `fault()` answers the next requests of a route with an
error, `hold()` blocks a route until the test releases it (and may then drop the
connection, as a crash would lose the answer).
"""

from tests.support.forge.github import GitHubStandIn
from tests.support.forge.gitlab import GitLabStandIn
from tests.support.forge.server import Hold, StandIn

__all__ = ["GitHubStandIn", "GitLabStandIn", "Hold", "StandIn"]
