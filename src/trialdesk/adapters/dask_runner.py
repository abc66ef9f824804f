"""Run simulation chunks on Dask distributed (an existing scheduler, or a local cluster of N worker processes).

Chunks carry their own ``SeedSequence`` child (see :func:`trialdesk.stats.simulate.plan_chunks`), and outputs are
returned in chunk order, so a Dask run gives exactly the single-process result for the same seed, whatever the
number of workers. Several chunks travel together in one Dask task (``chunks_per_task``) to keep the scheduler's
per-task overhead (~1 ms) small next to the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from trialdesk.stats.simulate import ChunkOutput, ChunkTask, run_chunk


def _distributed() -> Any:
    """The ``distributed`` package, imported when a Dask run starts (it is heavy). It has no type hints, so it is
    handled as ``Any`` at this one seam rather than silenced call by call."""
    import distributed

    return distributed


def run_chunk_batch(tasks: Sequence[ChunkTask]) -> list[ChunkOutput]:
    """Run a batch of chunks in a worker, in order."""
    return [run_chunk(task) for task in tasks]


class DaskRunner:
    """A :data:`~trialdesk.stats.simulate.ChunkRunner` backed by a ``distributed.Client``.

    Parameters
    ----------
    client : a connected ``distributed.Client``.
    chunks_per_task : chunks grouped into one Dask task.
    """

    def __init__(self, client: Any, chunks_per_task: int = 8) -> None:
        if chunks_per_task < 1:
            raise ValueError(f"chunks_per_task must be >= 1, got {chunks_per_task}")
        self.client = client
        self.chunks_per_task = chunks_per_task

    def __call__(self, tasks: Sequence[ChunkTask], progress: Callable[[int], None] | None = None) -> list[ChunkOutput]:
        as_completed = _distributed().as_completed

        step = self.chunks_per_task
        batches = [list(tasks[i : i + step]) for i in range(0, len(tasks), step)]
        futures = self.client.map(run_chunk_batch, batches, pure=False)
        sizes = {f.key: sum(t.n_trials for t in batch) for f, batch in zip(futures, batches)}
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # re-raise the worker's exception here
            if progress is not None:
                progress(sizes[future.key])
        results = self.client.gather(futures)
        return [output for batch in results for output in batch]


@contextmanager
def dask_runner(
    address: str | None = None, workers: int | None = None, chunks_per_task: int = 8
) -> Iterator[DaskRunner]:
    """Context manager yielding a :class:`DaskRunner`.

    ``address`` connects to a running scheduler (``tcp://host:8786``); otherwise ``workers`` single-threaded worker
    processes are started on this machine (``LocalCluster``) and shut down on exit.
    """
    dist = _distributed()
    if address:
        client = dist.Client(address)
        try:
            yield DaskRunner(client, chunks_per_task)
        finally:
            client.close()
        return
    n = workers or 1
    if n < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cluster = dist.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = dist.Client(cluster)
    try:
        yield DaskRunner(client, chunks_per_task)
    finally:
        client.close()
        cluster.close()
