"""The environment the agent's tools and the checks run with: no secrets.

A variable is dropped when its name looks like a credential (contains KEY, TOKEN, SECRET,
PASSWORD, ... in any case), belongs to a known credential family (AWS_*, ANTHROPIC_*,
GITHUB_*, ...), or its value carries credentials in a URL (`scheme://user:pass@host`).
What is left gets sane defaults for PATH, HOME and LANG, and git is told to ignore the
system and global configuration (which may name credential helpers or hooks) and never
to prompt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Substrings of a variable name (upper-cased) that mark it as a secret.
SECRET_WORDS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
    "SIGNATURE",
)

# Prefixes of whole credential families (and agent sockets that grant access to keys).
SECRET_PREFIXES = (
    "ANTHROPIC_",
    "CLAUDE_",
    "OPENAI_",
    "AWS_",
    "AZURE_",
    "ARM_CLIENT",
    "GOOGLE_",
    "GCLOUD_",
    "GCP_",
    "CLOUDSDK_",
    "GH_",
    "GITHUB_",
    "GITLAB_",
    "BITBUCKET_",
    "NPM_",
    "NODE_AUTH",
    "PYPI_",
    "TWINE_",
    "UV_INDEX_",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "DOCKER_",
    "VAULT_",
    "HF_",
    "HUGGING",
    "SLACK_",
    "STRIPE_",
    "SENTRY_",
    "DATABASE_URL",
    "SSH_",
    "GPG_",
    "GNUPG",
    "KRB5",
    "NETRC",
)

# scheme://user:password@host in any value.
_URL_CREDENTIALS = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")

# Always set (overriding the base): git must not read user/system config or prompt.
FORCED = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "PYTHONDONTWRITEBYTECODE": "1",
    "DEBIAN_FRONTEND": "noninteractive",
}

# Set only when the base does not provide them.
DEFAULTS = {
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "GIT_AUTHOR_NAME": "Andon agent",
    "GIT_AUTHOR_EMAIL": "agent@andon.invalid",
    "GIT_COMMITTER_NAME": "Andon agent",
    "GIT_COMMITTER_EMAIL": "agent@andon.invalid",
}


def is_secret(name: str, value: str = "") -> bool:
    """True when the variable `name` (with `value`) must not reach a tool process."""
    upper = name.upper()
    if any(word in upper for word in SECRET_WORDS):
        return True
    if upper.startswith(SECRET_PREFIXES):
        return True
    return bool(value and _URL_CREDENTIALS.search(value))


def scrubbed_env(
    base: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of `base` (default: os.environ) plus `extra`, secrets removed.

    `extra` is filtered too: nothing that looks like a secret gets through, even when a
    caller passes it on purpose.
    """
    if base is None:
        base = os.environ
    env: dict[str, str] = {}
    for source in (base, extra or {}):
        for name, value in source.items():
            if not isinstance(name, str) or not isinstance(value, str):
                continue
            if is_secret(name, value):
                env.pop(name, None)
                continue
            env[name] = value
    if not env.get("PATH"):
        env["PATH"] = DEFAULT_PATH
    if not env.get("HOME"):
        env["HOME"] = "/tmp"
    for name, value in DEFAULTS.items():
        env.setdefault(name, value)
    env.update(FORCED)
    return env
