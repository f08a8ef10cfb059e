"""What a log line may carry: one line, and no secret.

Much of what the app logs comes from outside (Entra's error text, Graph's answers, alert
payloads, form input); a line break in it would let anyone who can send such text forge
a log entry that looks real, so CR and LF are written as \\r and \\n. And an exception's
words often quote the URL it failed on, whose query string may be its password (a Teams
webhook's `sig=`): `app.core.redact` takes those out of the message and of the traceback
the formatter writes below it. Cleaning the record itself covers every logger and handler
in the process (the app's, gunicorn's, RQ's), whatever their format.
"""

from __future__ import annotations

import logging

from app.core.redact import redact

_BREAKS = str.maketrans({"\r": "\\r", "\n": "\\n"})
_TRACEBACKS = logging.Formatter()  # formats exc_info the way every formatter does


def one_line(value):
    return value.translate(_BREAKS) if isinstance(value, str) else value


def _clean_traceback(record: logging.LogRecord) -> None:
    """Formatters write `exc_text` when it is set, so a redacted one replaces theirs."""
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))


class CleanRecord(logging.LogRecord):
    """A record whose message, once its arguments are put in, is one line without
    secrets, and whose traceback has none either."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _clean_traceback(self)

    def getMessage(self) -> str:
        return one_line(redact(super().getMessage()))


def clean_every_log_record() -> None:
    """Install once per process (create_app calls it); calling it again changes nothing."""
    previous = logging.getLogRecordFactory()
    if previous is logging.LogRecord:
        logging.setLogRecordFactory(CleanRecord)
        return
    if previous is CleanRecord or getattr(previous, "cleans_records", False):
        return

    def clean(value):
        return one_line(redact(value)) if isinstance(value, str) else value

    def factory(*args, **kwargs) -> logging.LogRecord:  # another factory came first
        record = previous(*args, **kwargs)
        record.msg = clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: clean(arg) for key, arg in record.args.items()}
        _clean_traceback(record)
        return record

    factory.cleans_records = True
    logging.setLogRecordFactory(factory)
