"""LOG_FORMAT=json: one JSON object a line for log shippers, with the message's key=value context as fields.

Our log lines already carry their context as key=value (report=12 source=aws rows=100000) with numbers
masked (R12); this lifts those pairs into fields so a search can ask for report=12 without parsing text.
"""

import json
import logging
import re
from datetime import UTC, datetime

_PAIR = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|\S+)")
RESERVED = {"time", "level", "logger", "message"}


def _value(text: str) -> int | float | str:
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in _PAIR.findall(message):
            if key not in RESERVED:
                line.setdefault(key, _value(value))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
