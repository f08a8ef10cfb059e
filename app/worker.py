"""`rq worker --worker-class app.worker.PreloadedWorker`: builds the Flask app (and loads
msgraph) once in the worker, before it forks a work horse per job.

rq's default worker forks for every job; each fork used to build the app again
(create_app and the msgraph imports cost seconds per job). The forked work horse reuses
the parent's app and only drops the parent's database connections, which must never be
shared across a fork.
"""

from __future__ import annotations

from rq.worker import Worker


class PreloadedWorker(Worker):
    def work(self, *args, **kwargs):
        from app import jobs

        jobs.preload()
        return super().work(*args, **kwargs)
