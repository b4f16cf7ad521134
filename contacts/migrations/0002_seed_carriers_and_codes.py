"""Seed the carriers that report and the carrier error codes (DESIGN.md); both stay editable."""

from django.db import migrations

CARRIERS = [
    ("Verizon", [], True),  # the only carrier that reports temporary suspensions today
    ("C Spire", [], False),
    ("T-Mobile", [], False),
    ("Cell Com", [], False),
    ("Virgin Mobile", [], False),
    ("Sprint", ["Nextel", "Boost"], False),
    ("NTelos", [], False),
    ("AT&T", [], False),
    ("US Cellular", [], False),
]

NUMBER = "opt_out_number"
SENDER_CODE = "opt_out_sender_code"
CODES = [
    (341, "Value of mobile operator ID does not exist", NUMBER, "permanent_failure"),
    (345, "Mobile operator not found for the destination address", NUMBER, "permanent_failure"),
    (349, "Unable to determine carrier ID from destination address", NUMBER, "permanent_failure"),
    (560, "Mobile operator blocking the end user from this sender code", SENDER_CODE, "permanent_failure"),
    (561, "Content blocked by mobile operator for this end user", NUMBER, "permanent_failure"),
    (565, "End users connected to this MVNO cannot receive sender code messages", NUMBER, "permanent_failure"),
    (568, "Destination address not provisioned for SMS", NUMBER, "permanent_failure"),
    (569, "Destination suspended by carrier", "suspend", ""),
    (573, "Sender code blocked by end user", SENDER_CODE, "permanent_failure"),
    (592, "Account not provisioned for global one- or two-way SMS", NUMBER, "permanent_failure"),
    (603, "Content blocked by user opt-out (contact has responded STOP)", SENDER_CODE, "stop"),
    (629, "Destination address unable to receive SMS", NUMBER, "permanent_failure"),
    (3041, "US standard rate message blocked by the aggregator deactivated numbers firewall", NUMBER,
     "permanent_failure"),
]  # fmt: skip


def seed(apps, schema_editor):
    Carrier = apps.get_model("contacts", "Carrier")
    CarrierErrorCode = apps.get_model("contacts", "CarrierErrorCode")
    for name, aliases, suspends in CARRIERS:
        Carrier.objects.get_or_create(name=name, defaults={"aliases": aliases, "supports_suspension": suspends})
    for code, description, action, reason in CODES:
        CarrierErrorCode.objects.get_or_create(
            code=code, defaults={"description": description, "action": action, "reason": reason}
        )


def unseed(apps, schema_editor):
    apps.get_model("contacts", "CarrierErrorCode").objects.filter(code__in=[c[0] for c in CODES]).delete()
    apps.get_model("contacts", "Carrier").objects.filter(name__in=[c[0] for c in CARRIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
