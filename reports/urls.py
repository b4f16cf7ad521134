from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("receipts/", views.receipts, name="receipts"),
    path("carrier-notices/", views.carrier_notices, name="carrier-notices"),
]
