"""Run one operator import in a fresh process and print its time and peak memory as JSON (for bench.imports)."""

import io
import json
import os
import sys
import time
from contextlib import redirect_stdout

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    os.environ["OPT_OUT_GUARD_PERCENT"] = "0"  # the mass opt-out guard (R14) off: a benchmark opts out wholesale
    django.setup()
    from django.core.management import call_command

    from bench.ingest_once import peak_rss_mb

    out = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out):
        call_command("import_csv", *sys.argv[1:], stdout=out)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "summary": out.getvalue().strip()}))


if __name__ == "__main__":
    main()
