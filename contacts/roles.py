"""The staff groups and what each may do (R12): one policy, applied by migration and after every migrate.

Rules are `app_label.codename` patterns, so a model added later (receipts, notices) is covered
without a new migration. Permissions are only ever added: an admin's own grants are kept.
"""

from fnmatch import fnmatchcase

from django.apps import apps as global_apps
from django.apps.registry import Apps

VIEW = ["contacts.view_*", "reports.view_*", "transfers.view_*"]
ROLES: dict[str, list[str]] = {
    # Sees every screen; never exports raw numbers, opts out, imports or edits codes.
    "Viewer": VIEW,
    # Day-to-day work: imports, manual opt-outs, ending suspensions, uploads, fetch-now, audiences, exports.
    "Operator": [
        *VIEW,
        "contacts.export_numbers",
        "contacts.add_contact",
        "contacts.change_contact",
        "contacts.add_subscription",
        "contacts.change_subscription",
        "contacts.change_suspension",
        "contacts.*_savedfilter",
        "reports.add_*",
        "reports.change_*",
        "transfers.add_importjob",  # CSV imports: only Operator and Admin
    ],
    # Everything in the product's own apps and the beat schedule, but not user accounts; the login audit
    # (django-axes) read-only, so a record of who tried to log in cannot be edited away.
    "Admin": ["contacts.*", "reports.*", "transfers.*", "django_celery_beat.*", "axes.view_*"],
}
APPS = sorted({rule.split(".", 1)[0] for rules in ROLES.values() for rule in rules})


def sync_groups(apps: Apps = global_apps) -> None:
    """Create the groups and add every existing permission their rules match."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.filter(content_type__app_label__in=APPS).values_list(
            "id", "content_type__app_label", "codename"
        )
    )
    for name, rules in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [pk for pk, app, codename in permissions if any(fnmatchcase(f"{app}.{codename}", r) for r in rules)]
        group.permissions.add(*wanted)


def sync_after_migrate(sender, apps: Apps = global_apps, **kwargs) -> None:
    """post_migrate: cover the permissions of models added since (they exist only after their migrate)."""
    if sender.label in ("contacts", "reports", "transfers"):
        sync_groups(apps)
