from django.urls import path

from usage import plan_views

app_name = "plans"

urlpatterns = [
    path("meters/", plan_views.meter_list, name="meter_list"),
    path("meters/new/", plan_views.meter_create, name="meter_create"),
    path("meters/<int:meter_id>/", plan_views.meter_edit, name="meter_edit"),
    path("meters/<int:meter_id>/deactivate", plan_views.meter_deactivate, name="meter_deactivate"),
    path("meters/<int:meter_id>/reactivate", plan_views.meter_reactivate, name="meter_reactivate"),
    path("plans/", plan_views.plan_list, name="plan_list"),
    path("plans/new/", plan_views.plan_create, name="plan_create"),
    path("plans/<int:plan_id>/", plan_views.plan_detail, name="plan_detail"),
    path("plans/<int:plan_id>/edit/", plan_views.plan_edit, name="plan_edit"),
    path("plans/<int:plan_id>/deactivate", plan_views.plan_deactivate, name="plan_deactivate"),
    path("plans/<int:plan_id>/reactivate", plan_views.plan_reactivate, name="plan_reactivate"),
    path("plans/<int:plan_id>/prices/new/", plan_views.price_add, name="price_add"),
    path("plans/<int:plan_id>/prices/<int:price_id>/", plan_views.price_edit, name="price_edit"),
    path(
        "plans/<int:plan_id>/prices/<int:price_id>/remove",
        plan_views.price_remove,
        name="price_remove",
    ),
]
