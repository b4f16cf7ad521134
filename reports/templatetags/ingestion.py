from django import template
from django.urls import reverse

from reports import health

register = template.Library()


@register.inclusion_tag("admin/reports/ingestion_banner.html", takes_context=True)
def ingestion_banner(context) -> dict:
    """The admin index's banner while a report is held or interrupted, or ingestion is stale (issue 16)."""
    request = context.get("request")
    if request is None or not request.user.has_perm("reports.view_deactivationreport"):
        return {"show": False}
    state = health.ingestion_health(mark=False)
    changelist = reverse("admin:reports_deactivationreport_changelist")
    return {
        "show": bool(state.held or state.interrupted or state.stale),
        "held": state.held,
        "interrupted": state.interrupted,
        "stale": [source.describe(state.now) for source in state.stale],
        "max_age_hours": f"{state.max_age.total_seconds() / 3600:g}",
        "held_url": f"{changelist}?status__exact=held",
        "interrupted_url": f"{changelist}?status__exact=interrupted",
        "changelist": changelist,
    }
