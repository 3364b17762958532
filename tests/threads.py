"""Under pytest-xdist the workers share the machine's cores: each worker gets its share of BLAS
and torch threads. Left at their defaults, 2 workers x 2 OpenBLAS threads on 2 cores spin against
each other (a least-squares test took 13 s instead of 2)."""

from __future__ import annotations

import os
import sys

from threadpoolctl import threadpool_limits

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_threads_between_workers() -> int | None:
    """Limit this xdist worker to cores // workers threads (at least 1; an ``OMP_NUM_THREADS``
    already set wins); returns the limit, or None outside xdist (nothing changed)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = int(os.environ.get("OMP_NUM_THREADS", max(1, (cores or 1) // workers)))
    for name in THREAD_VARIABLES:  # torch reads them when imported, child processes inherit them
        os.environ.setdefault(name, str(threads))
    threadpool_limits(threads)  # the BLAS libraries already loaded (numpy's)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
    return threads
