"""One description of the machine a benchmark ran on, for every generated section."""

from __future__ import annotations

import os
import platform
import re
import subprocess

import numba
import numpy as np


def _output(command: list[str]) -> str:
    """Standard output of ``command``, or ``""`` when it is missing or fails."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_description() -> str:
    """CPU model, cores, RAM, L3, and the Python, numpy and numba versions; one sentence.

    Returns
    -------
    str
        For example ``"Intel(R) Xeon(R) Processor; 2 cores (`nproc`); 23 GB RAM
        (`free -g`); L3 260 MiB (1 instance). Python 3.11.7, numpy 2.4.6, numba
        0.68.1 with 2 threads, Linux."`` (ends with a full stop).
    """
    lscpu = _output(["lscpu"])
    model = re.search(r"Model name:\s*(.+)", lscpu)
    cache = re.search(r"L3 cache:\s*(.+)", lscpu)
    memory = re.search(r"Mem:\s+(\d+)", _output(["free", "-g"]))
    parts = [
        f"{model.group(1).strip() if model else platform.processor() or 'unknown CPU'}",
        f"{_output(['nproc']).strip() or os.cpu_count()} cores (`nproc`)",
        f"{memory.group(1) if memory else '?'} GB RAM (`free -g`)",
    ]
    if cache:
        parts.append(f"L3 {cache.group(1).strip()}")
    return (
        "; ".join(parts)
        + f". Python {platform.python_version()}, numpy {np.__version__}, numba "
        + f"{numba.__version__} with {numba.get_num_threads()} threads, {platform.system()}."
    )


def load_average() -> float:
    """The 1-minute load average (runnable processes), to show how shared the machine was."""
    return os.getloadavg()[0]
