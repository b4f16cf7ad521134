"""Re-engagement by email: asking the owner of a number opted out as deactivated, disconnected or porting whether
the number is still theirs. The answer is recorded here; a "yes" becomes a new consent only through
`contacts.consent` (R4), never by changing a subscription from here.
"""

from django.db import models

from contacts.models import Reason, Subscription

# The opt-outs worth asking about: the carrier says the line went away, but its owner may have kept (ported) it.
REENGAGE_REASONS = (Reason.DEACTIVATED, Reason.DISCONNECTED, Reason.PORTING)


class Reengagement(models.Model):
    """One question about one opt-out of one subscription, and its answer; a later opt-out is a new question."""

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"  # a link went out; no answer yet
        RECONSENTED = "reconsented", "Re-consented"  # the owner said yes: opted in again with source reengagement
        DECLINED = "declined", "Declined"  # the owner said no: stays opted out

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="reengagements")
    opted_out_at = models.DateTimeField(help_text="The opt-out this question is about.")
    reason = models.CharField(max_length=24, choices=Reason.choices, help_text="That opt-out's reason.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.INVITED)
    invited_at = models.DateTimeField(help_text="When the latest link for it was exported.")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "re-engagement"
        constraints = [
            # Two exports at once never ask twice about the same opt-out: the second one skips it.
            models.UniqueConstraint(fields=["subscription", "opted_out_at"], name="one_reengagement_per_opt_out"),
        ]
        indexes = [models.Index(fields=["invited_at"], name="reengagement_invited_at")]

    def __str__(self) -> str:
        return f"{self.subscription} ({self.get_status_display()})"


class ReengagementQueue(Subscription):
    """The admin screen of subscriptions to ask about: opted out for a reason in REENGAGE_REASONS, with an email."""

    class Meta:
        proxy = True
        verbose_name = "re-engagement queue"
        verbose_name_plural = "re-engagement queue"
