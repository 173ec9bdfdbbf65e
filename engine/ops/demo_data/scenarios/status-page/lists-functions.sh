#!/bin/sh
# title: the status page lists every public function
cd "${1:-$ANDON_WORKTREE}" || exit 2
grep -q '`slugify()`' docs/STATUS.md && grep -q '`truncate()`' docs/STATUS.md
