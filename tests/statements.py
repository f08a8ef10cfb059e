"""The SQL statements an engine runs inside a block, whitespace folded and parameters
left out: the same list for two requests means the same queries in the same order
(counted, never timed)."""

from sqlalchemy import event


class Statements:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args):
        self.seen.append(" ".join(statement.split()))
