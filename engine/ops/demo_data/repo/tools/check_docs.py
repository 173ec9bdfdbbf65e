"""Check the documentation: every example in it runs, and the README documents every
public function of textkit.

    python tools/check_docs.py [FILE.md ...]     (default: README.md and docs/*.md)
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import textkit  # noqa: E402


def undocumented(readme: str) -> list[str]:
    return [name for name in textkit.__all__ if f"`{name}(" not in readme]


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    problems = 0
    for path in files:
        if not path.is_absolute():
            path = ROOT / path
        if not path.exists():
            print(f"{path.relative_to(ROOT)}: missing")
            problems += 1
            continue
        text = path.read_text(encoding="utf-8")
        if path.name == "README.md":
            for name in undocumented(text):
                print(f"README.md: public function {name}() is not documented "
                      f"(no heading or mention of `{name}(`)")
                problems += 1
        failed, tried = doctest.testfile(str(path), module_relative=False,
                                         optionflags=doctest.ELLIPSIS)
        problems += failed
        print(f"{path.relative_to(ROOT)}: {tried - failed}/{tried} examples pass")
    print("docs OK" if not problems else f"docs: {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
