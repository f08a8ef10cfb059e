"""RQ worker classes that build the Flask app (and load msgraph) once per process.

`WarmWorker` (the README's, in `rq worker-pool -w app.worker.WarmWorker`): rq's
SimpleWorker, which runs each job in the worker process, building the app when it
starts instead of on its first job. A pool's workers would otherwise each pay for it
(create_app and the msgraph imports) inside the first declaration's deliveries.

`PreloadedWorker`: rq's default fork per job, with the app built once in the worker
before it forks; the work horse drops the parent's database connections.
"""

from __future__ import annotations

from rq.worker import SimpleWorker, Worker


class WarmWorker(SimpleWorker):
    _warm = False

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        if not self._warm:  # after rq has forked its scheduler, before the first job
            from app import jobs

            jobs.warm()
            self._warm = True
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)


class PreloadedWorker(Worker):
    def work(self, *args, **kwargs):
        from app import jobs

        jobs.preload()
        return super().work(*args, **kwargs)
