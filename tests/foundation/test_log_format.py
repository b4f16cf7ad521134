"""LOG_FORMAT=json: one JSON object a line, with a report's id, source and counts as fields, numbers masked."""

import json
import logging
import os
import subprocess
import sys

from smsprogram.logformat import JsonFormatter
from tests.conftest import ROOT


def record(message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("reports.services", logging.INFO, __file__, 1, message, args, None)


def test_key_value_context_becomes_fields():
    line = JsonFormatter().format(record("report applied report=%s source=%s rows=%d ratio=%s", 12, "aws", 100, 0.5))

    fields = json.loads(line)
    assert fields["message"] == "report applied report=12 source=aws rows=100 ratio=0.5"
    assert (fields["report"], fields["source"], fields["rows"], fields["ratio"]) == (12, "aws", 100, 0.5)
    assert (fields["level"], fields["logger"]) == ("INFO", "reports.services")


def test_quoted_values_and_reserved_names():
    fields = json.loads(JsonFormatter().format(record("alert event=x subject='report 3 failed' level=oops")))
    assert fields["subject"] == "report 3 failed" and fields["level"] == "INFO"


def test_the_setting_switches_the_console_to_json_and_numbers_stay_masked(tmp_path):
    script = (
        "import logging, io\n"
        "from reports import alerts\n"
        "alerts.send('report 9 failed', ['+12025550143'], event='report_failed', report=9, source='aws')\n"
    )
    env = {**os.environ, "DEBUG": "1", "LOG_FORMAT": "json", "ALERT_EMAILS": ""}
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", script], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [alert] = [line for line in lines if line.get("event") == "report_failed"]
    assert (alert["report"], alert["source"], alert["subject"]) == (9, "aws", "report 9 failed")
    assert "2025550143" not in result.stderr
