"""No log record of the process spans lines, whatever logged it and whatever it held."""

import logging

from app.core.log_lines import clean_every_log_record


class Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_any_logger_any_argument_one_line(app):
    clean_every_log_record()  # again: a second app in the process changes nothing
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


class Formatted(Kept):
    """What a handler writes: the message and, below it, any traceback."""

    def emit(self, record):
        self.messages.append(logging.Formatter("%(message)s").format(record))


def test_no_secret_reaches_the_log_in_a_message_or_a_traceback(app):
    """A job that failed on a Teams webhook quotes its URL, whose `sig=` is its password;
    RQ's and the app's loggers write the exception's words twice (message, traceback)."""
    webhook = "https://example.webhook.office.com/webhookb2/x/IncomingWebhook/y?sig=S3CRET"
    kept = Formatted()
    logger = logging.getLogger("app.core.job_queue")
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    try:
        try:
            raise ConnectionError(f"cannot reach {webhook}")
        except ConnectionError as error:
            logger.exception("job %s failed: %s", "app.jobs.deliver", error)
        logger.info("posting with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def")
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)
    written = "\n".join(kept.messages)
    assert "S3CRET" not in written and "eyJhbGciOiJIUzI1NiJ9" not in written, written
    assert "cannot reach https://example.webhook.office.com/webhookb2/x" in written
    assert "Traceback" in written  # the traceback is still there, below its line
