import csv
import io
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from reports.reassigned import answers

HEADER = ["phone", "consented_at", "answer", "deactivated_on"]


class Command(BaseCommand):
    help = (
        "Answer, from the reassigned-number ledger, whether each number was deactivated since its consent: reads "
        "phone,consented_at (header row; ISO-8601), writes phone,consented_at,answer,deactivated_on in input order; "
        "answers yes, no, no_data, invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a CSV with a header row naming phone and consented_at")

    def handle(self, *args, file, **options):
        try:
            stream = open(file, encoding="utf-8-sig", errors="replace", newline="")
        except OSError as exc:
            raise CommandError(str(exc)) from None
        with stream:
            reader = csv.reader(stream)
            header = [name.strip().lower() for name in next(reader, [])]
            missing = [name for name in ("phone", "consented_at") if name not in header]
            if missing:
                raise CommandError(f"header must name phone,consented_at; missing {', '.join(missing)}")
            phone, consented = header.index("phone"), header.index("consented_at")
            questions = (
                (row[phone] if phone < len(row) else "", row[consented] if consented < len(row) else "")
                for row in reader
                if any(cell.strip() for cell in row)
            )
            tally = Counter()
            self.write_row(HEADER)
            for result in answers(questions):
                tally[result.answer] += 1
                deactivated_on = result.deactivated_on.isoformat() if result.deactivated_on else ""
                self.write_row([result.phone, result.consented_at, result.answer.value, deactivated_on])
        # Data on stdout only; the counts go to stderr (DESIGN.md: data commands).
        summary = " ".join(f"{answer}={tally[answer]}" for answer in ("yes", "no", "no_data", "invalid"))
        self.stderr.write(f"rows={sum(tally.values())} {summary}")

    def write_row(self, values: list) -> None:
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(values)
        self.stdout.write(line.getvalue(), ending="")
