"""``prodval-gate`` on PATH: runs the bash gate shipped inside the package.

The gate's logic lives in one place, ``pytest_prodval/scripts/prodval-gate`` (a bash script,
package data); ``scripts/prodval-gate`` in the repository is a symlink to it. This shim only
tells the script which Python has pytest-prodval installed, then replaces itself with bash.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["SCRIPT", "main"]

SCRIPT = Path(__file__).resolve().parent / "scripts" / "prodval-gate"


def main() -> None:
    bash = shutil.which("bash")
    if bash is None:
        print("prodval-gate: bash is not on PATH", file=sys.stderr)
        sys.exit(3)
    os.environ.setdefault("PRODVAL_GATE_PYTHON", sys.executable)
    os.execv(bash, [bash, str(SCRIPT), *sys.argv[1:]])


if __name__ == "__main__":
    main()
