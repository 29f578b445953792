"""The repository checkout the harness works on: its charts/, crds/, hack/ scripts and worker_image/.

The harness is installed editable from harness/ (`make install`), never as a wheel, so the checkout is three
levels above this package (harness/src/retrodiction_harness).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
