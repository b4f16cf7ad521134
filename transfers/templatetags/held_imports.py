from django import template
from django.urls import reverse

from transfers.models import ImportJob

register = template.Library()


@register.inclusion_tag("admin/transfers/held_imports_banner.html", takes_context=True)
def held_imports_banner(context) -> dict:
    """The admin index's line while an import job (a notice, receipts or opt-out file) is held (R14, issue 16)."""
    request = context.get("request")
    if request is None or not request.user.has_perm("transfers.view_importjob"):
        return {"held": 0}
    changelist = reverse("admin:transfers_importjob_changelist")
    held = ImportJob.objects.filter(
        status=ImportJob.Status.HELD
    ).count()  # import jobs are counted in thousands, not millions
    return {"held": held, "held_url": f"{changelist}?status__exact={ImportJob.Status.HELD}"}
