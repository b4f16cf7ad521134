from reports.management.intake_command import IntakeCommand
from reports.notices import NoticeIntake


class Command(IntakeCommand):
    help = (
        "Record carrier notices from a CSV (phone,carrier,event,occurred_at; carrier by name or alias) and apply "
        "them; notices already recorded are skipped (R6)."
    )
    intake = NoticeIntake
