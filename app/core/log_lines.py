"""Every log record stays one line: CR and LF in what is logged are written as \\r and \\n.

Much of what the app logs comes from outside (Entra's error text, Graph's answers, alert
payloads, form input); a line break in it would let anyone who can send such text forge
a log entry that looks real. Sanitising the record itself covers every logger and handler
in the process (the app's, gunicorn's, RQ's), whatever their format. Tracebacks are not
touched: the formatter adds them below the record's own line, as always.
"""

from __future__ import annotations

import logging

_BREAKS = str.maketrans({"\r": "\\r", "\n": "\\n"})


def one_line(value):
    return value.translate(_BREAKS) if isinstance(value, str) else value


class OneLineRecord(logging.LogRecord):
    """A record whose message, once its arguments are put in, has no line break."""

    def getMessage(self) -> str:
        return one_line(super().getMessage())


def keep_records_on_one_line() -> None:
    """Install once per process (create_app calls it); calling it again changes nothing."""
    previous = logging.getLogRecordFactory()
    if previous is logging.LogRecord:
        logging.setLogRecordFactory(OneLineRecord)
        return
    if previous is OneLineRecord or getattr(previous, "keeps_one_line", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:  # another factory came first
        record = previous(*args, **kwargs)
        record.msg = one_line(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(one_line(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: one_line(arg) for key, arg in record.args.items()}
        return record

    factory.keeps_one_line = True
    logging.setLogRecordFactory(factory)
