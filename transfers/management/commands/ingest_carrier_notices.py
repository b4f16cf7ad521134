from reports.notices import NoticeIntake
from transfers.command_jobs import JobIntakeCommand
from transfers.models import ImportKind


class Command(JobIntakeCommand):
    help = (
        "Record carrier notices from a CSV (phone,carrier,event,occurred_at; carrier by name or alias) and apply "
        "them; notices already recorded are skipped (R6). The file runs as an import job: one the mass opt-out "
        "guard holds (R14) exits 3 and waits for `release_report --import ID`."
    )
    intake = NoticeIntake
    job_kind = ImportKind.CARRIER_NOTICES
