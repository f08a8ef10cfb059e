"""No log record of the process spans lines, whatever logged it and whatever it held."""

import logging

from app.core.log_lines import keep_records_on_one_line


class Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_any_logger_any_argument_one_line(app):
    keep_records_on_one_line()  # again: a second app in the process changes nothing
    kept = Kept()
    loggers = [logging.getLogger(name) for name in ("rq.worker", "gunicorn.error", "app")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # on the loggers themselves: whatever RQ set up stays out of it
        logger.addHandler(kept)
        logger.setLevel(logging.INFO)
    try:
        rq, gunicorn, ours = loggers
        rq.info("job failed: %s", ValueError("first line\nFORGED second line"))
        gunicorn.warning("%(who)s", {"who": "x\r\ny"})
        ours.info("literal\nmessage")
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(kept)
            logger.setLevel(level)
    assert kept.messages == ["job failed: first line\\nFORGED second line", "x\\r\\ny",
                             "literal\\nmessage"]
