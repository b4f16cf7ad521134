"""AWS End User Messaging's requester-pays bucket as a report source; reports.s3 does the talking."""

from typing import BinaryIO

from reports import s3, sources


class AwsSource(sources.ReportSource):
    name = "aws"
    origin = "s3"
    label = "AWS"

    def problems(self) -> list[str]:
        # The region and owner are checked at start-up (reports/checks.py); credentials come from boto3's chain.
        return []

    def open_report(self, report) -> BinaryIO:
        obj = s3.ReportObject(report.bucket, report.key, report.report_date, report.etag, report.size or 0,
                              report.created_at)  # fmt: skip
        return s3.open_report(obj)


SOURCE = AwsSource()
