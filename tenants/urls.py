from django.urls import path

from tenants import views
from usage import catalogue_views

app_name = "tenants"

urlpatterns = [
    path("", views.tenant_list, name="list"),
    path("new/", views.tenant_create, name="create"),
    path("switch/", views.tenant_switch, name="switch"),
    path("options/", views.tenant_options, name="options"),
    path("<int:tenant_id>/", views.tenant_detail, name="detail"),
    path("<int:tenant_id>/edit/", views.tenant_edit, name="edit"),
    path("<int:tenant_id>/billing-profile/", views.billing_profile, name="billing_profile"),
    path("<int:tenant_id>/members/add/", views.member_add, name="member_add"),
    path(
        "<int:tenant_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "<int:tenant_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("<int:tenant_id>/suspend/", views.tenant_suspend, name="suspend"),
    path("<int:tenant_id>/reactivate/", views.tenant_reactivate, name="reactivate"),
    path(
        "<int:tenant_id>/subscriptions/new/",
        catalogue_views.subscription_start,
        name="subscription_start",
    ),
    path(
        "<int:tenant_id>/subscriptions/<int:subscription_id>/end/",
        catalogue_views.subscription_end,
        name="subscription_end",
    ),
    path("<int:tenant_id>/charges/new/", catalogue_views.charge_add, name="charge_add"),
]
