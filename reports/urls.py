from django.urls import path

from reports import reassigned_api, views

app_name = "reports"

urlpatterns = [
    path("receipts/", views.receipts, name="receipts"),
    path("carrier-notices/", views.carrier_notices, name="carrier-notices"),
    path("reassigned-numbers/", reassigned_api.reassigned_numbers, name="reassigned-numbers"),
]
