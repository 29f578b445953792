"""The real node after its test process was killed with SIGKILL: the next start removes what the dead one left,
and stopping leaves the machine as it was. (A module of its own: one node at a time on this machine.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from retrodiction_harness.realnode.node import RealNode


def test_a_node_whose_process_was_killed_is_cleaned_up_by_the_next_start(
    node_base: Path, machine_unchanged: None
) -> None:
    base = node_base
    script = (
        "import sys, time; from pathlib import Path; from retrodiction_harness.realnode.node import RealNode; "
        "node = RealNode(Path(sys.argv[1])); node.start(); print('ready', flush=True); time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(base)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3]
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    node = RealNode(base)
    assert node.leftovers(), "the killed run left its node behind"
    node.start()
    node.stop()
    assert node.leftovers() == []
