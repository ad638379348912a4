"""A request's id on the web's log lines and on the lines of the Celery task it queued, in another
process: a billing admin uploads a usage file to gunicorn, a real worker imports it (JSON logs,
as production writes them)."""

from django.urls import reverse

from tests.faults.stack import csrf_token, json_lines, wait_until
from tests.faults.test_redis_outage import signed_in
from usage.models import UsageImport

CSV = (
    "tenant_id,meter,resource_id,quantity,window_start,window_end,idempotency_key\n"
    "{tenant},vcpu_hours,vm-1,2.5,2026-10-01T00:00:00+05:30,2026-10-01T01:00:00+05:30,k-1\n"
    "{tenant},vcpu_hours,vm-1,2.5,2026-10-01T01:00:00+05:30,2026-10-01T02:00:00+05:30,k-2\n"
)
REQUEST_ID = "upload-7f3a9c"


def test_an_uploads_request_id_is_on_the_worker_lines_of_the_import_it_queued(
    acme, billing_admin, stack
):
    web = stack.web().start()
    worker = stack.worker().start()
    stack.wait_for_web(web)
    browser = signed_in(stack, billing_admin)
    page = browser.get(f"{stack.site_url}{reverse('usage_imports:list')}", timeout=30)
    assert page.status_code == 200
    upload = browser.post(
        f"{stack.site_url}{reverse('usage_imports:list')}",
        data={"csrfmiddlewaretoken": csrf_token(page.text)},
        files={"file": ("october.csv", CSV.format(tenant=acme.pk).encode(), "text/csv")},
        headers={"X-Request-ID": REQUEST_ID},
        allow_redirects=False,
        timeout=30,
    )
    assert upload.status_code == 302, upload.text[:2000]
    assert upload.headers["X-Request-ID"] == REQUEST_ID
    usage_import = UsageImport.objects.get()
    assert wait_until(
        lambda: UsageImport.objects.get().status == UsageImport.Status.DONE, timeout=90
    ), worker.log_tail()

    [posted] = [
        e
        for e in json_lines(web.log_text())
        if e["logger"] == "billing_portal.request" and e["method"] == "POST"
    ]
    assert (posted["request_id"], posted["status"]) == (REQUEST_ID, 302)
    done = f"usage import {usage_import.pk} done"
    assert wait_until(lambda: done in worker.log_text(), timeout=10)
    [line] = [e for e in json_lines(worker.log_text()) if str(e["message"]).startswith(done)]
    assert line["request_id"] == REQUEST_ID
    assert line["task"] == "usage.tasks.import_usage_file"
    # The worker's lines for other work carry no id, or their own: never this one.
    others = [e for e in json_lines(worker.log_text()) if not e.get("task")]
    assert others
    assert all(e["request_id"] != REQUEST_ID for e in others)
