#!/bin/sh
# title: the usage guide shows slugify() and truncate() at work
cd "${1:-$ANDON_WORKTREE}" || exit 2
grep -q '>>> slugify(' docs/usage.md && grep -q '>>> truncate(' docs/usage.md
