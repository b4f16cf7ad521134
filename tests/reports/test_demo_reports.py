"""`load_demo_reports`: after load_demo, the reports list shows one report in each state, made by the pipeline."""

import io

import pytest

from django.core.management import call_command

from contacts.models import Subscription
from reports.models import DeactivationReport

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_succeeded_a_held_and_a_failed_report_once():
    call_command("load_demo", stdout=io.StringIO())
    out = io.StringIO()

    call_command("load_demo_reports", stdout=out)

    assert "demo-daily.csv=succeeded demo-too-many.csv=held demo-pipes.csv=failed" in out.getvalue()
    reports = {r.file_name: r for r in DeactivationReport.objects.all()}
    assert reports["demo-daily.csv"].opted_out > 0 and reports["demo-daily.csv"].invalid == 2
    held = reports["demo-too-many.csv"]
    assert held.held_lists[0]["percent"] >= 29 and held.held_lists[0]["would_opt_out"] > 100
    assert reports["demo-pipes.csv"].error.startswith("layout not recognised: 40 of 40 rows invalid")
    opted_out = Subscription.objects.opted_out().count()
    again = io.StringIO()
    call_command("load_demo_reports", stdout=again)
    assert again.getvalue().strip() == "Demo reports already loaded"
    assert (DeactivationReport.objects.count(), Subscription.objects.opted_out().count()) == (3, opted_out)
