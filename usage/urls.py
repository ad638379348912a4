from django.urls import path

from usage import views

app_name = "usage"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export", views.export, name="export"),
]
