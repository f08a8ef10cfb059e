"""No log record of the process spans lines, whatever logged it and whatever it held."""

import logging

from app.core.log_lines import keep_records_on_one_line


def test_any_logger_any_argument_one_line(app, caplog):
    keep_records_on_one_line()  # again: a second app in the process changes nothing
    error = ValueError("first line\nFORGED second line")
    with caplog.at_level(logging.INFO):
        logging.getLogger("rq.worker").info("job failed: %s", error)
        logging.getLogger("gunicorn.error").warning("%(who)s", {"who": "x\r\ny"})
        logging.getLogger("app").info("literal\nmessage")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["job failed: first line\\nFORGED second line", "x\\r\\ny",
                        "literal\\nmessage"]
