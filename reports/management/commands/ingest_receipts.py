from reports.management.intake_command import IntakeCommand
from reports.receipts import ReceiptIntake


class Command(IntakeCommand):
    help = (
        "Record delivery receipts from a CSV (phone,sender_code,error_code,occurred_at[,carrier,message_id]) "
        "and apply what each carrier code does; receipts already recorded are skipped (R6)."
    )
    intake = ReceiptIntake
