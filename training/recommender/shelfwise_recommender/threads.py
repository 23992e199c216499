"""How many threads the job's numeric libraries use, decided from the CPUs the job may run on.

numpy/scipy (OpenBLAS) and PyTorch each start a thread pool per core, and those threads spin while they wait
for each other. On a machine shared with another busy process that is ruinous: every synchronisation waits
for a thread the scheduler has parked. Measured on two shared cores, a 1,500-item eigendecomposition took
20 s with two OpenBLAS threads and 2 s with one. So the job runs BLAS on one thread (its large products are
few; LAPACK's eigensolver gains little from a second thread even on a quiet machine), and gives PyTorch's
Mult-VAE, where threads do pay, as many threads as there are CPUs the job may use (its affinity mask, a
container's CPU quota, SageMaker's `SM_NUM_CPUS`) that other processes are not already keeping busy, and
idle OpenMP threads sleep instead of spinning. The environment variables only take effect before the
libraries load, so `limit_threads` runs first thing in the entrypoint. This module imports no numeric
library itself.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

# Thread-pool sizes read by OpenBLAS, MKL, BLIS, Accelerate and numexpr.
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# An operator's explicit pool size for OpenMP (PyTorch's intra-op pool among them); wins when set.
OPENMP_THREADS_VARIABLE = "OMP_NUM_THREADS"
# Idle OpenMP threads sleep instead of spinning: a spinning thread burns the core a neighbour (or another of
# the job's own threads) needs.
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


def limit_threads(blas_threads: int = 1) -> None:
    """Before numpy, scipy or torch load: BLAS on `blas_threads`, idle OpenMP threads asleep.

    A variable the caller already set wins: an operator who pins `OPENBLAS_NUM_THREADS` means it.
    """
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, str(blas_threads))
    for name, value in IDLE_POLICY.items():
        os.environ.setdefault(name, value)


def torch_threads(
    environment: dict[str, str] | None = None, busy_elsewhere: float | None = None, cpus: int | None = None
) -> int:
    """PyTorch's intra-op pool: `OMP_NUM_THREADS` when set, else the job's CPUs that are not busy.

    `busy_elsewhere` is how many CPUs other processes keep busy: the one-minute load average less this
    job's own running thread. At least one thread, at most the job's CPUs.
    """
    environment = dict(os.environ) if environment is None else environment
    configured = environment.get(OPENMP_THREADS_VARIABLE, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    cpus = cpus or available_cpus(environment)
    if busy_elsewhere is None:
        busy_elsewhere = max(os.getloadavg()[0] - 1.0, 0.0) if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cpus, round(cpus - busy_elsewhere)))


def limit_torch_threads(torch: Any, count: int | None = None) -> int:
    """PyTorch's intra-op pool to `count` (default `torch_threads()`) and its inter-op pool to one thread
    (the job runs one op at a time). The inter-op size can be set only once per process, so later calls
    leave it as it is."""
    count = count or torch_threads()
    torch.set_num_threads(count)
    # RuntimeError: already set, or inter-op work already started; the pool is fixed then.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return count
