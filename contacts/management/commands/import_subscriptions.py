from django.core.management.base import BaseCommand, CommandError

from contacts.consent import apply_opt_in_columns
from contacts.csvio import BadFile, RowErrors
from contacts.models import Source
from contacts.subscription_rows import SubscriptionRows


class Command(BaseCommand):
    help = "Import opt-ins from a CSV: phone,sender_code,list,opted_in_at[,email,carrier] (R4)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--create-lists", action="store_true", help="create unknown sender codes and lists")

    def handle(self, *args, file, create_lists, **options):
        errors = RowErrors()
        rows = SubscriptionRows(errors, create_lists=create_lists)
        try:
            with open(file, "rb") as stream:
                outcome = apply_opt_in_columns(rows.opt_ins(stream), source=Source.IMPORT)
        except (OSError, BadFile) as exc:
            raise CommandError(str(exc)) from None
        for sample in sorted(errors.samples + outcome.refused_samples, key=lambda s: s["line"])[:20]:
            self.stderr.write(f"line {sample['line']}: {sample['reason']}")
        self.stdout.write(
            f"rows={rows.count} created={outcome.created} updated={outcome.renewed + outcome.reopted} "
            f"unchanged={outcome.unchanged + outcome.duplicates} invalid={errors.count + outcome.refused} "
            f"contacts_created={outcome.contacts_created}"
        )
