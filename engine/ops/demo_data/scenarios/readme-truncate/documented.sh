#!/bin/sh
# title: the README documents truncate() with an example that calls it
# A holdout scenario: the agent never sees this file, only its title if it fails.
cd "${1:-$ANDON_WORKTREE}" || exit 2
grep -q '^### `truncate(' README.md && grep -q '>>> truncate(' README.md
