from django.urls import path

from usage import import_views

app_name = "usage_imports"

urlpatterns = [
    path("", import_views.import_list, name="list"),
    path("<int:import_id>/", import_views.import_detail, name="detail"),
    path("<int:import_id>/rejects.csv", import_views.import_rejects, name="rejects"),
    path("<int:import_id>/resume", import_views.import_resume, name="resume"),
]
