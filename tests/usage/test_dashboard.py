"""The usage dashboard and its exports: totals, chart, presets, scoping, projection, and exports
too large to answer at once, which become export jobs."""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exports.models import ExportJob
from invoices import generation, services
from tests.conftest import client_for
from tests.exports.conftest import download, queue, sheet_rows
from tests.factories import UserFactory
from usage.models import Meter, OneTimeCharge, Subscription, UsageRecord

D = Decimal
IST = generation.IST
URL = "/usage/"
EXPORT = "/usage/export"
NOW = datetime.datetime(2026, 11, 10, 12, 0, tzinfo=IST)  # day 10 of a 30-day month


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def subscribed(acme, plan, provider):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1))
    return acme


def use(tenant, meter, quantity, day, key, *, dimension="", resource="vm-1", name="", region=""):
    """A record whose window starts at 10:00 IST on ``day`` (month, day) of 2026."""
    start = datetime.datetime(2026, day[0], day[1], 10, tzinfo=IST)
    return UsageRecord.objects.create(
        tenant=tenant,
        meter=Meter.objects.get(code=meter),
        resource_id=resource,
        resource_name=name,
        region=region,
        quantity=D(quantity),
        window_start=start,
        window_end=start + datetime.timedelta(hours=1),
        idempotency_key=key,
        dimension_value=dimension,
    )


@pytest.fixture
def usage(subscribed, globex):
    """November usage of Acme in three categories, one October record, and Globex's usage."""
    use(subscribed, "vcpu_hours", "600", (11, 3), "a", resource="vm-1", name="web-1")
    use(subscribed, "vcpu_hours", "400", (11, 5), "b", resource="vm-2", name="db-1")
    use(subscribed, "ram_gb_hours", "2400", (11, 3), "c", resource="vm-1")
    use(subscribed, "egress_gb", "60", (11, 4), "d", resource="lb-1")
    use(subscribed, "ingress_gb", "500", (11, 4), "e", resource="lb-1")
    use(subscribed, "gpu_hours", "10", (11, 7), "f", dimension="A100", resource="gpu-1")
    use(subscribed, "gpu_hours", "4", (11, 8), "g", dimension="T4", resource="gpu-2")
    use(subscribed, "vcpu_hours", "7", (10, 20), "october")
    use(globex, "vcpu_hours", "9999", (11, 3), "globex-1", resource="globex-vm")
    return subscribed


def dashboard(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def meter_rows(response) -> dict[str, tuple[Decimal, int, Decimal | None]]:
    return {m.label: (m.quantity, m.records, m.cost) for m in response.context["breakdown"].meters}


# --- Totals ------------------------------------------------------------------------------------


def test_totals_by_meter_and_category_for_one_tenant_are_rated_at_its_prices(usage, billing_admin):
    response = dashboard(client_for(billing_admin), tenant=usage.pk, period="this_month")
    assert meter_rows(response) == {
        "vCPU-hours": (D("1000"), 2, D("1200.00")),  # 1000 x 1.20
        "RAM GB-hours": (D("2400"), 1, None),  # the plan does not price it
        "Network ingress GB": (D("500"), 1, None),
        "Network egress GB": (D("60"), 1, D("0.00")),  # inside the 100 GB included
        "GPU-hours · A100": (D("10"), 1, D("1800.00")),
        "GPU-hours · T4": (D("4"), 1, D("360.00")),  # the meter's general price
    }
    breakdown = response.context["breakdown"]
    categories = {
        c.category: (c.records, c.resources, c.cost, [(u.unit, u.quantity) for u in c.units])
        for c in breakdown.categories
    }
    assert categories == {
        # Two units in one category are shown side by side, never added together.
        "compute": (3, 2, D("1200.00"), [("vCPU-hour", D("1000")), ("GB-hour", D("2400"))]),
        "network": (2, 1, D("0.00"), [("GB", D("560"))]),  # ingress + egress: one unit
        "gpu": (2, 2, D("2160.00"), [("GPU-hour", D("14"))]),
    }
    assert (breakdown.records, breakdown.resources, breakdown.cost) == (7, 5, D("3360.00"))
    assert [m.label for m in breakdown.unpriced] == ["RAM GB-hours", "Network ingress GB"]
    html = response.content.decode()
    assert "1,000 vCPU-hour" in html
    assert "₹3,360.00" in html


def test_all_customers_are_counted_but_not_rated(usage, finance):
    response = dashboard(client_for(finance), period="this_month")
    rows = meter_rows(response)
    assert rows["vCPU-hours"] == (D("10999"), 3, None)  # Acme's 1,000 and Globex's 9,999
    breakdown = response.context["breakdown"]
    assert (breakdown.records, breakdown.rated, breakdown.cost) == (8, False, None)
    assert response.context["projection"] is None
    assert "Pick a customer to see rated costs" in response.content.decode()


def test_a_meter_or_category_filter_narrows_every_figure(usage, billing_admin):
    client = client_for(billing_admin)
    by_meter = dashboard(client, tenant=usage.pk, meter="gpu_hours")
    assert list(meter_rows(by_meter)) == ["GPU-hours · A100", "GPU-hours · T4"]
    by_category = dashboard(client, tenant=usage.pk, category="network")
    assert list(meter_rows(by_category)) == ["Network ingress GB", "Network egress GB"]
    assert [c.category for c in by_category.context["breakdown"].categories] == ["network"]


def test_top_resources_rank_each_meter_by_quantity_with_their_share(usage, billing_admin):
    response = dashboard(client_for(billing_admin), tenant=usage.pk)
    vcpu = [
        (r.rank, r.resource_id, r.resource_name, r.quantity, r.share)
        for r in response.context["top"]
        if r.meter.code == "vcpu_hours"
    ]
    assert vcpu == [
        (1, "vm-1", "web-1", D("600"), D("60.0")),
        (2, "vm-2", "db-1", D("400"), D("40.0")),
    ]


def test_only_the_top_five_resources_of_a_meter_are_listed(subscribed, billing_admin):
    for i in range(7):
        use(subscribed, "egress_gb", str(10 + i), (11, 2), f"k{i}", resource=f"r{i}")
    response = dashboard(client_for(billing_admin), tenant=subscribed.pk)
    assert [r.resource_id for r in response.context["top"]] == ["r6", "r5", "r4", "r3", "r2"]


# --- Chart -------------------------------------------------------------------------------------


def test_the_chart_is_an_inline_svg_with_bars_for_each_category_and_unit(usage, billing_admin):
    html = dashboard(client_for(billing_admin), tenant=usage.pk).content.decode()
    svg = re.search(r"<svg[^>]*id=\"usage-chart\".*?</svg>", html, re.S)
    assert svg, "the chart is drawn on the server"
    chart = svg.group(0)
    bars = re.findall(r'<rect class="bar" data-category="(\w+)"', chart)
    assert set(bars) == {"compute", "network", "gpu"}  # nothing for storage: no usage
    panels = re.findall(r'<g transform="[^"]+" data-category="(\w+)" data-unit="([^"]+)"', chart)
    assert panels == [
        ("compute", "vCPU-hour"),
        ("compute", "GB-hour"),  # a panel of its own: never on the vCPU-hour axis
        ("network", "GB"),
        ("gpu", "GPU-hour"),
    ]
    assert "<title>3 Nov 2026 · vCPU-hours: 600 vCPU-hour</title>" in chart


def test_the_page_needs_no_inline_styles_or_scripts_under_the_csp(usage, billing_admin):
    html = dashboard(client_for(billing_admin), tenant=usage.pk).content.decode()
    assert "style=" not in html
    assert "<style" not in html
    assert re.search(r"<script(?![^>]*nonce=)", html) is None


def test_a_quarter_is_drawn_by_day_and_a_year_by_week(usage, billing_admin):
    client = client_for(billing_admin)
    assert dashboard(client, period="this_quarter").context["chart"].bucket == "day"
    assert dashboard(client, period="this_year").context["chart"].bucket == "week"


def test_no_usage_shows_an_empty_state_and_no_chart(subscribed, billing_admin):
    response = dashboard(client_for(billing_admin), tenant=subscribed.pk)
    assert response.context["chart"] is None
    assert "No usage recorded for Acme Cloud in this range." in response.content.decode()


# --- Presets and ranges --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "keys", "start", "end"),
    [
        ({}, 7, "2026-11-01", "2026-11-30"),  # this month by default
        ({"period": "this_month"}, 7, "2026-11-01", "2026-11-30"),
        ({"period": "last_month"}, 1, "2026-10-01", "2026-10-31"),
        ({"period": "this_quarter"}, 8, "2026-10-01", "2026-12-31"),
        ({"period": "last_quarter"}, 0, "2026-07-01", "2026-09-30"),
        ({"period": "this_year"}, 8, "2026-04-01", "2027-03-31"),
        ({"period": "as_of_today"}, 8, None, "2026-11-10"),
        (
            {"period": "custom", "from": "2026-10-15", "to": "2026-11-03"},
            3,
            "2026-10-15",
            "2026-11-03",
        ),
        ({"from": "2026-11-04", "to": "2026-11-05"}, 3, "2026-11-04", "2026-11-05"),
        ({"period": "custom", "from": "2026-11-05"}, 3, "2026-11-05", "2026-11-10"),
        ({"period": "custom"}, 7, "2026-11-01", "2026-11-10"),  # no dates yet: month so far
    ],
)
def test_presets_and_custom_ranges_pick_the_records_of_their_days(
    usage, billing_admin, params, keys, start, end
):
    response = dashboard(client_for(billing_admin), tenant=usage.pk, **params)
    scope = response.context["scope"]
    assert (scope.start and scope.start.isoformat(), scope.end.isoformat()) == (start, end)
    assert response.context["breakdown"].records == keys


def test_a_day_is_a_day_in_india(subscribed, billing_admin):
    # 23:30 IST on 31 Oct is 18:00 UTC the same day; 00:30 IST on 1 Nov is still 31 Oct in UTC.
    for key, moment in [
        ("oct", datetime.datetime(2026, 10, 31, 23, 30, tzinfo=IST)),
        ("nov", datetime.datetime(2026, 11, 1, 0, 30, tzinfo=IST)),
    ]:
        UsageRecord.objects.create(
            tenant=subscribed,
            meter=Meter.objects.get(code="vcpu_hours"),
            resource_id="vm-1",
            quantity=D("1"),
            window_start=moment,
            window_end=moment + datetime.timedelta(minutes=20),
            idempotency_key=key,
        )
    client = client_for(billing_admin)
    assert dashboard(client, tenant=subscribed.pk).context["breakdown"].records == 1
    response = dashboard(client, tenant=subscribed.pk, period="last_month")
    assert response.context["breakdown"].records == 1


def test_a_range_that_ends_before_it_starts_is_refused_and_this_month_shown(usage, billing_admin):
    response = dashboard(
        client_for(billing_admin), period="custom", **{"from": "2026-11-09", "to": "2026-11-01"}
    )
    assert "The start of the range is after its end." in response.content.decode()
    assert response.context["scope"].start == datetime.date(2026, 11, 1)


def test_htmx_gets_only_the_results_region(usage, billing_admin):
    response = client_for(billing_admin).get(
        URL, {"tenant": usage.pk}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="usage-results"')
    assert "usage-filters" not in html


# --- Who sees what -----------------------------------------------------------------------------


def test_a_customer_sees_their_organisation_only(usage, owner):
    response = dashboard(client_for(owner))
    assert response.context["tenant"] == usage
    assert meter_rows(response)["vCPU-hours"][0] == D("1000")  # not Globex's 9,999
    html = response.content.decode()
    assert "globex-vm" not in html
    assert 'id="id_tenant"' not in html  # no customer picker


def test_a_customer_naming_another_tenant_gets_404(usage, globex, owner, viewer):
    for user in (owner, viewer):
        client = client_for(user)
        assert client.get(URL, {"tenant": globex.pk}).status_code == 404
        assert client.get(EXPORT, {"tenant": globex.pk}).status_code == 404
        assert client.get(URL, {"tenant": "nonsense"}).status_code == 404
        assert client.get(URL, {"tenant": usage.pk}).status_code == 200


def test_the_other_tenant_sees_only_its_own(usage, other_owner):
    response = dashboard(client_for(other_owner))
    assert meter_rows(response) == {"vCPU-hours": (D("9999"), 1, None)}


def test_a_user_without_an_organisation_gets_404(db):
    client = client_for(UserFactory(username="loner"))
    assert client.get(URL).status_code == 404
    assert client.get(EXPORT).status_code == 404


def test_staff_without_the_usage_permission_get_403(db):
    user = UserFactory(username="auditor")
    user.user_permissions.add(Permission.objects.get(codename="view_tenant"))
    client = client_for(user)
    assert client.get(URL).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_staff_naming_a_missing_tenant_get_404(billing_admin):
    assert client_for(billing_admin).get(URL, {"tenant": 987654}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(db, client):
    assert client.get(URL).status_code == 302
    assert client.get(EXPORT).status_code == 302


# --- Queries -----------------------------------------------------------------------------------


def queries_for(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        dashboard(client, **params)
    return len(queries)


def test_the_query_count_does_not_grow_with_the_records(usage, billing_admin):
    client = client_for(billing_admin)
    dashboard(client)  # the session's first page reads what it then keeps (the role label)
    one_tenant, everyone = queries_for(client, tenant=usage.pk), queries_for(client)
    for i in range(40):
        use(usage, "vcpu_hours", "1", (11, 1 + i % 9), f"more{i}", resource=f"vm-{i}")
        use(usage, "block_storage_gb_months", "2", (11, 1 + i % 9), f"disk{i}", resource=f"d{i}")
    assert queries_for(client, tenant=usage.pk) == one_tenant
    assert queries_for(client) == everyone
    assert one_tenant <= 30  # sign-in, filters, pricing, six aggregates, the projection


# --- CSV ---------------------------------------------------------------------------------------


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_records_export_streams_the_filtered_records(usage, billing_admin, provider):
    use(usage, "vcpu_hours", "1", (11, 6), "=evil", resource="@SUM(A1)", name='=HYPERLINK("x")')
    october = generation.generate_invoice(tenant=usage, period=generation.Period.month("2026-10"))
    october = services.invoice_finalize(invoice=october, actor=billing_admin)
    response = client_for(billing_admin).get(
        EXPORT, {"format": "csv", "kind": "records", "tenant": usage.pk, "period": "this_quarter"}
    )
    assert 'filename="usage-records-' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [r["Idempotency key"] for r in rows] == [
        "october",
        "a",
        "c",
        "d",
        "e",
        "b",
        "'=evil",  # formula injection neutralised
        "f",
        "g",
    ]
    first = rows[0]
    assert first == {
        "Tenant": "Acme Cloud",
        "Meter": "vcpu_hours",
        "Category": "compute",
        "Resource ID": "vm-1",
        "Resource name": "",
        "Region": "",
        "Dimension": "",
        "Quantity": "7",
        "Unit": "vCPU-hour",
        "Window start": "2026-10-20T10:00:00+05:30",
        "Window end": "2026-10-20T11:00:00+05:30",
        "Idempotency key": "october",
        "Invoice": october.number,  # billed on October's invoice
    }
    evil = rows[6]
    assert (evil["Resource ID"], evil["Resource name"]) == ("'@SUM(A1)", '\'=HYPERLINK("x")')
    assert rows[1]["Invoice"] == ""  # November's usage is not billed yet
    assert {r["Tenant"] for r in rows} == {"Acme Cloud"}


def test_a_customer_exports_only_their_own_records(usage, owner):
    rows = csv_rows(client_for(owner).get(EXPORT, {"kind": "records"}))
    assert len(rows) == 7
    assert "globex-1" not in {r["Idempotency key"] for r in rows}


def test_the_breakdown_export_has_a_row_per_month_and_meter_rated_for_one_tenant(
    usage, billing_admin
):
    client = client_for(billing_admin)
    rows = csv_rows(
        client.get(EXPORT, {"kind": "breakdown", "tenant": usage.pk, "period": "this_quarter"})
    )
    amount = "Rated amount (INR, before GST)"
    table = [
        (r["Month"], r["Meter"], r["Dimension"], r["Records"], r["Quantity"], r[amount])
        for r in rows
    ]
    assert table == [
        ("2026-10", "vcpu_hours", "", "1", "7", "8.40"),
        ("2026-11", "vcpu_hours", "", "2", "1000", "1200.00"),
        ("2026-11", "ram_gb_hours", "", "1", "2400", ""),  # no price
        ("2026-11", "ingress_gb", "", "1", "500", ""),
        ("2026-11", "egress_gb", "", "1", "60", "0.00"),
        ("2026-11", "gpu_hours", "A100", "1", "10", "1800.00"),
        ("2026-11", "gpu_hours", "T4", "1", "4", "360.00"),
    ]
    everyone = csv_rows(client.get(EXPORT, {"kind": "breakdown"}))
    assert {r["Tenant"] for r in everyone} == {"Acme Cloud", "Globex Analytics"}
    assert {r[amount] for r in everyone} == {""}


def test_only_csv_or_xlsx_of_records_or_breakdown_are_offered(usage, billing_admin):
    client = client_for(billing_admin)
    assert client.get(EXPORT, {"format": "ods"}).status_code == 400
    assert client.get(EXPORT, {"kind": "everything"}).status_code == 400


# --- Exports too large to answer at once: export jobs ------------------------------------------


@pytest.fixture
def small_exports(settings, tmp_path):
    settings.EXPORT_INLINE_MAX_ROWS = 3
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_large_xlsx_of_records_becomes_a_job_holding_the_filtered_records(
    usage, billing_admin, small_exports, django_capture_on_commit_callbacks
):
    billing_admin.email = "asha@cirrus.example"
    billing_admin.save()
    client = client_for(billing_admin)
    params = {"tenant": usage.pk, "period": "this_quarter", "category": "compute"}
    job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="xlsx", **params)
    assert (job.status, job.kind, job.format, job.tenant_id) == ("done", "usage", "xlsx", None)
    assert job.params["category"] == ["compute"]
    assert job.filename == f"usage-records-{usage.pk}-20261001-20261231.xlsx"

    header, *body = sheet_rows(download(client, job), "Usage records")
    expected = UsageRecord.objects.filter(
        tenant=usage,
        meter__category="compute",
        window_start__gte=datetime.datetime(2026, 10, 1, tzinfo=IST),
    ).order_by("window_start", "id")
    keys = header.index("Idempotency key")
    assert [r[keys] for r in body] == [r.idempotency_key for r in expected]
    assert [r[keys] for r in body] == ["october", "a", "c", "b"]
    assert job.row_count == len(body) == 4
    quantity = header.index("Quantity")
    assert sum(D(str(r[quantity])) for r in body) == sum(r.quantity for r in expected)

    (email,) = mail.outbox
    assert email.to == ["asha@cirrus.example"]
    assert "Usage records" in email.subject
    assert f"/exports/{job.pk}/" in email.body


def test_a_large_breakdown_becomes_a_job_whose_total_is_the_rated_amount(
    usage, billing_admin, small_exports, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    params = {"kind": "breakdown", "tenant": usage.pk, "period": "this_quarter"}
    job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="xlsx", **params)
    assert (job.kind, job.row_count) == ("usage_months", 7)
    header, *body, totals = sheet_rows(download(client, job), "Usage breakdown")
    assert [(r[1], r[3], r[4]) for r in body] == [  # an empty cell reads back as None
        ("2026-10", "vcpu_hours", None),
        ("2026-11", "vcpu_hours", None),
        ("2026-11", "ram_gb_hours", None),
        ("2026-11", "ingress_gb", None),
        ("2026-11", "egress_gb", None),
        ("2026-11", "gpu_hours", "A100"),
        ("2026-11", "gpu_hours", "T4"),
    ]
    amount = header.index("Rated amount (INR, before GST)")
    assert totals[0] == "Total rated"
    # 8.40 + 1,200.00 + 0.00 (egress inside the allowance) + 1,800.00 + 360.00
    assert D(str(totals[amount])) == D("3368.40")


def test_a_customers_job_holds_their_organisation_only(
    usage, owner, globex, small_exports, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    assert client.get(EXPORT, {"format": "xlsx", "tenant": globex.pk}).status_code == 404
    job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="xlsx")
    assert job.tenant_id == usage.pk
    header, *body = sheet_rows(download(client, job), "Usage records")
    assert len(body) == 7  # this month's, October's left out
    assert {r[header.index("Tenant")] for r in body} == {"Acme Cloud"}
    assert "globex-1" not in {r[header.index("Idempotency key")] for r in body}


def test_only_the_requester_and_staff_who_export_open_a_usage_job(
    usage,
    owner,
    viewer,
    other_owner,
    finance,
    billing_admin,
    small_exports,
    django_capture_on_commit_callbacks,
):
    job = queue(client_for(owner), django_capture_on_commit_callbacks, EXPORT, format="csv")
    detail = f"/exports/{job.pk}/"
    for user in (owner, finance, billing_admin):
        assert download(client_for(user), job).status_code == 200
    for user in (viewer, other_owner):
        assert client_for(user).get(detail).status_code == 404
        assert download(client_for(user), job).status_code == 404


def test_staff_who_may_not_export_or_read_usage_are_refused_before_any_job(
    usage, finance, small_exports
):
    group = finance.groups.get()
    group.permissions.remove(Permission.objects.get(codename="export_invoice"))
    assert client_for(finance).get(EXPORT, {"format": "xlsx"}).status_code == 403
    assert "Export records" not in dashboard(client_for(finance)).content.decode()
    group.permissions.add(Permission.objects.get(codename="export_invoice"))
    group.permissions.remove(Permission.objects.get(codename="view_usagerecord"))
    assert client_for(finance).get(EXPORT, {"format": "xlsx"}).status_code == 403
    assert not ExportJob.objects.exists()


# --- This billing period: cost so far and the projected invoice ------------------------------


def test_the_projection_prices_the_month_so_far_and_scales_only_usage(subscribed, owner):
    """10 November: 10 of 30 days gone, so this month's usage is scaled by 3.

    So far: plan fee 25,000 + 300 vCPU-hours x 1.20 = 360 + 60 GB egress (inside the 100 GB
    included) = 0 + a rack installation 5,000 = 30,360.00; CGST and SGST at 9% (Maharashtra to
    Maharashtra) 2,732.40 each; 35,824.80, rounded to 35,825.00.
    Projected: 25,000 + 900 x 1.20 = 1,080 + 180 GB egress = 80 billable x 4.50 = 360 (priced
    again, not 0 x 3) + 5,000 = 31,440.00; 2,829.60 each; 37,099.20, rounded to 37,099.00.
    """
    use(subscribed, "vcpu_hours", "300", (11, 2), "cpu")
    use(subscribed, "egress_gb", "60", (11, 3), "net")
    OneTimeCharge.objects.create(
        tenant=subscribed, description="Rack installation", unit_price=D("5000")
    )
    response = dashboard(client_for(owner))
    projection = response.context["projection"]
    assert (projection.days_elapsed, projection.days_in_period, projection.factor) == (10, 30, 3)
    lines = {
        line.description: (line.amount, line.projected_quantity, line.projected_amount)
        for line in projection.lines
    }
    assert lines == {
        "Standard plan - monthly fee": (D("25000.00"), D("1"), D("25000.00")),
        "vCPU-hours": (D("360.00"), D("900"), D("1080.00")),
        "Network egress GB": (D("0.00"), D("180"), D("360.00")),
        "Rack installation": (D("5000.00"), D("1"), D("5000.00")),
    }
    so_far, projected = projection.so_far, projection.projected
    assert (so_far.taxable_value, so_far.cgst, so_far.sgst, so_far.igst) == (
        D("30360.00"),
        D("2732.40"),
        D("2732.40"),
        D("0"),
    )
    assert (so_far.round_off, so_far.total) == (D("0.20"), D("35825.00"))
    assert (projected.taxable_value, projected.cgst, projected.sgst) == (
        D("31440.00"),
        D("2829.60"),
        D("2829.60"),
    )
    assert (projected.round_off, projected.total) == (D("-0.20"), D("37099.00"))
    assert (projection.usage_so_far, projection.usage_projected) == (D("360.00"), D("1440.00"))
    html = response.content.decode()
    assert "Proforma estimate · not a tax invoice" in html
    assert '<strong id="cost-so-far">₹35,825.00</strong>' in html
    assert '<strong id="projected-total">₹37,099.00</strong>' in html


def test_an_inter_state_customer_is_projected_with_igst(globex, plan, provider, other_owner):
    Subscription.objects.create(tenant=globex, plan=plan, starts_on=datetime.date(2026, 1, 1))
    use(globex, "gpu_hours", "2", (11, 9), "gpu", dimension="A100")
    projection = dashboard(client_for(other_owner)).context["projection"]
    # 25,000 + 2 x 180 = 25,360 so far; 25,000 + 6 x 180 = 26,080 projected; IGST 18%.
    assert (projection.so_far.igst, projection.so_far.total) == (D("4564.80"), D("29925.00"))
    assert (projection.projected.igst, projection.projected.total) == (D("4694.40"), D("30774.00"))
    assert projection.so_far.cgst == projection.so_far.sgst == 0


def test_late_usage_of_last_month_is_billed_but_not_scaled(subscribed, billing_admin):
    use(subscribed, "vcpu_hours", "100", (10, 30), "late")
    projection = dashboard(client_for(billing_admin), tenant=subscribed.pk).context["projection"]
    late = next(line for line in projection.lines if "received late" in line.description)
    assert (late.amount, late.projected_amount, late.scaled) == (D("120.00"), D("120.00"), False)


def test_the_breakdown_as_xlsx_has_numbers_and_the_rated_total(usage, billing_admin):
    from decimal import Decimal

    from openpyxl import load_workbook

    response = client_for(billing_admin).get(
        EXPORT,
        {"format": "xlsx", "kind": "breakdown", "tenant": usage.pk, "period": "this_quarter"},
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Usage breakdown"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "Rated amount (INR, before GST)"
    assert rows[1][1:4] == ("2026-10", "compute", "vcpu_hours")
    assert rows[1][6:] == (1, 7, 8.4)  # records, quantity and rupees as numbers
    assert rows[-1][0] == "Total rated"
    assert Decimal(str(rows[-1][-1])) == Decimal("8.40") + Decimal("1200.00") + Decimal(
        "0.00"
    ) + Decimal("1800.00") + Decimal("360.00")
