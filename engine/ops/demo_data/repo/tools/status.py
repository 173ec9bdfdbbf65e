"""Print a status page for the docs: public functions and how many tests cover the code.

    python tools/status.py > docs/STATUS.md
"""

from __future__ import annotations

import sys
import unittest
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import textkit  # noqa: E402


def count_tests() -> int:
    suite = unittest.defaultTestLoader.discover(str(ROOT / "tests"), top_level_dir=str(ROOT))
    return suite.countTestCases()


def main() -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print("# Status\n")
    print(f"Refreshed {now} by the factory's recurring status spec.\n")
    print("| public function | documented |")
    print("|---|---|")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in textkit.__all__:
        print(f"| `{name}()` | {'yes' if f'`{name}(' in readme else 'no'} |")
    print(f"\n{count_tests()} tests.")


if __name__ == "__main__":
    main()
