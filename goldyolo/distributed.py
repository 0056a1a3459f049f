"""Several processes under ``mpirun``: what goldyolo adds to Jittor's own MPI support.

Jittor switches MPI on by itself in a process started by Open MPI's ``mpirun`` (it sees
``OMPI_COMM_WORLD_SIZE``) when ``mpicc`` is installed. Then ``jittor.dataset.Dataset`` hands
each process its contiguous slice of every global batch, and ``Optimizer.backward`` averages the
gradients over the processes (``mpi_all_reduce("mean")``). Batch norm, the loss normaliser and
the trainer's logging need the helpers below; outside MPI each of them is the identity.
"""
from __future__ import annotations

from .runtime import jt


def world_size() -> int:
    """Number of processes training together (1 without MPI)."""
    return jt.world_size if jt.in_mpi else 1


def rank() -> int:
    """This process's rank (0 without MPI)."""
    return jt.rank if jt.in_mpi else 0


def is_main_process() -> bool:
    """True in the process that prints and writes files: rank 0, or the only one."""
    return rank() == 0


def sum_over_processes(x: jt.Var) -> jt.Var:
    """``x`` summed over all processes (gradients flow back to every process's ``x``)."""
    return x.mpi_all_reduce("add") if jt.in_mpi else x


def total_over_processes(value: float) -> float:
    """A Python number summed over all processes, in float64."""
    if not jt.in_mpi:
        return value
    return float(jt.array([value], dtype="float64").mpi_all_reduce("add").item())


def all_gather(x: jt.Var) -> jt.Var:
    """``(world_size, *x.shape)``: every process's ``x`` in rank order, differentiable.

    Jittor has no all-gather op; an all-reduce sum of copies that are zero except in this
    process's row gathers exactly (adding zeros changes no float).
    """
    if not jt.in_mpi:
        return x.unsqueeze(0)
    rows = [x if other == jt.rank else jt.zeros_like(x) for other in range(jt.world_size)]
    return jt.stack(rows).mpi_all_reduce("add")
