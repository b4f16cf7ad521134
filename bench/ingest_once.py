"""Ingest one report in a fresh process and print its time and peak memory as JSON (for bench.run)."""

import argparse
import json
import os
import resource
import time
from datetime import date

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file")
    source.add_argument("--s3-date", type=date.fromisoformat)
    parser.add_argument("--without-ledger", action="store_true", help="skip the ledger step, for bench.ledger")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    os.environ["OPT_OUT_GUARD_PERCENT"] = "0"  # the mass opt-out guard (R14) off: a benchmark opts out wholesale
    django.setup()
    from contacts import ledger

    ledger_seconds = [0.0]
    if args.without_ledger:
        # Only to measure what the ledger step costs; the product never runs without it.
        ledger.record_staged_deactivations = lambda batch: 0
    else:
        record = ledger.record_staged_deactivations

        def timed(batch):  # the step's own share of this very run: immune to what else loads the machine
            started = time.perf_counter()
            try:
                return record(batch)
            finally:
                ledger_seconds[0] += time.perf_counter() - started

        ledger.record_staged_deactivations = timed
    from reports import services

    started = time.perf_counter()
    if args.file:
        with open(args.file, "rb") as stream:
            report = services.report_for_upload(stream, file_name=os.path.basename(args.file), report_date=None)
        result = services.ingest(report)
    else:
        result = services.fetch_dated(args.s3_date)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "ledger_seconds": ledger_seconds[0], "peak_rss_mb": peak_rss_mb(),
                      "counts": result.counts()}))  # fmt: skip


def peak_rss_mb() -> float:
    """This process's own high-water mark; ru_maxrss would carry over the parent's across fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
