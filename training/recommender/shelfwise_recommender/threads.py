"""How many threads the job's numeric libraries use, decided from the CPUs the job may run on.

numpy/scipy (OpenBLAS), onnxruntime and PyTorch each size a thread pool from the machine's core count, and
their OpenMP threads spin while they wait for each other. On a machine shared with another busy process
that oversubscribes the cores many times over: every synchronisation waits for a thread the scheduler has
parked, and a two-minute job takes half an hour. The job therefore runs one pool per library, no larger than
the CPUs it may use (its affinity mask, a container's CPU quota, SageMaker's `SM_NUM_CPUS`), with threads
that sleep rather than spin when idle. The environment variables only take effect before the libraries load,
so `limit_threads` runs first thing in the entrypoint; `limit_torch_threads` runs when PyTorch is imported.
This module imports no numeric library itself.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

# Thread-pool sizes read by OpenBLAS, MKL, BLIS, Accelerate, numexpr and every OpenMP runtime (PyTorch's too).
THREAD_COUNT_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# Idle OpenMP threads sleep instead of spinning: a spinning thread burns the core a neighbour (or another of
# the job's own threads) needs, which is what turns a shared machine's 2x into 20x.
IDLE_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(environment: dict[str, str] | None = None, cgroup_cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may use: the least of its affinity mask, the cgroup quota and `SM_NUM_CPUS`."""
    environment = dict(os.environ) if environment is None else environment
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_cpu_max)
    if quota is not None:
        cpus = min(cpus, quota)
    declared = environment.get("SM_NUM_CPUS", "").strip()
    if declared.isdigit() and int(declared) > 0:
        cpus = min(cpus, int(declared))
    return max(cpus, 1)


def _cgroup_quota(path: Path) -> int | None:
    """`docker run --cpus 1.5` and Kubernetes limits: cgroup v2's `<quota> <period>`, rounded up."""
    try:
        quota, period = path.read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return max(math.ceil(int(quota) / int(period)), 1)


def limit_threads(cpus: int | None = None) -> int:
    """Size every numeric library's pool to `cpus` (default `available_cpus()`); returns the count used.

    A variable the caller already set wins: an operator who pins `OMP_NUM_THREADS` means it.
    """
    count = cpus or available_cpus()
    for name in THREAD_COUNT_VARIABLES:
        os.environ.setdefault(name, str(count))
    for name, value in IDLE_POLICY.items():
        os.environ.setdefault(name, value)
    return count


def thread_count() -> int:
    """The pool size `limit_threads` chose (or the operator set), for the libraries configured in code."""
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(configured) if configured.isdigit() and int(configured) > 0 else available_cpus()


def limit_torch_threads(torch: Any, count: int | None = None) -> int:
    """PyTorch's intra-op pool to `count` (default `thread_count()`) and its inter-op pool to one thread
    (the job runs one op at a time). The inter-op size can be set only once per process, so later calls
    leave it as it is."""
    count = count or thread_count()
    torch.set_num_threads(count)
    # RuntimeError: already set, or inter-op work already started; the pool is fixed then.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return count
