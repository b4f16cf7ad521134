from django import template

from contacts import reengagement

register = template.Library()


@register.inclusion_tag("admin/contacts/includes/reengagement_counts.html")
def reengagement_counts(list_id: int | None = None) -> dict:
    """The re-engagement table for one list (its dashboard) or every list (the queue screen)."""
    return {"rows": reengagement.counts(None if list_id is None else [list_id]), "one_list": list_id is not None}
