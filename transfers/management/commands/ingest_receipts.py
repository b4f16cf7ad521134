from reports.receipts import ReceiptIntake
from transfers.command_jobs import JobIntakeCommand
from transfers.models import ImportKind


class Command(JobIntakeCommand):
    help = (
        "Record delivery receipts from a CSV (phone,sender_code,error_code,occurred_at[,carrier,message_id]) "
        "and apply what each carrier code does; receipts already recorded are skipped (R6). The file runs as an "
        "import job: one the mass opt-out guard holds (R14) exits 3 and waits for `release_report --import ID`."
    )
    intake = ReceiptIntake
    job_kind = ImportKind.RECEIPTS
