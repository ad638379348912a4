"""POST /api/v1/usage/records: auth, limits, validation, and exactly-once storage."""

import json
import threading

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse

from usage import ingest, services
from usage.models import UsageRecord

URL = "/api/v1/usage/records"


@pytest.fixture
def token(billing_admin):
    _, raw = services.ingest_token_create(name="metering-prod", actor=billing_admin)
    return raw


def record(tenant, key, **changes):
    data = {
        "tenant_id": tenant.pk,
        "meter": "vcpu_hours",
        "resource_id": "vm-42",
        "resource_name": "web-1",
        "region": "ap-south-1",
        "quantity": "3.5",
        "window_start": "2026-10-01T00:00:00+05:30",
        "window_end": "2026-10-01T01:00:00+05:30",
        "idempotency_key": key,
    }
    data.update(changes)
    return data


def post(raw_token, body, **headers):
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return Client().post(
        URL,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw_token}", **headers},
    )


def test_the_url_is_the_one_design_names():
    assert reverse("api_usage_records") == URL


def test_a_batch_is_stored_and_the_same_batch_again_is_all_duplicates(acme, token):
    batch = {"records": [record(acme, f"k{i}") for i in range(3)]}
    first = post(token, batch)
    assert first.status_code == 200
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = post(token, batch)
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert UsageRecord.objects.count() == 3
    stored = UsageRecord.objects.get(idempotency_key="k0")
    assert (stored.tenant, stored.meter.code, str(stored.quantity)) == (
        acme,
        "vcpu_hours",
        "3.500000",
    )
    assert stored.source == "api"


def test_a_bare_array_is_accepted_too(acme, token):
    assert post(token, [record(acme, "a")]).json()["accepted"] == 1


def test_the_same_key_for_two_tenants_is_two_records(acme, globex, token):
    result = post(token, [record(acme, "same"), record(globex, "same")]).json()
    assert result["accepted"] == 2


def test_each_bad_record_is_rejected_by_index_with_its_reason_and_the_rest_stored(acme, token):
    batch = [
        record(acme, "good"),
        record(acme, "x1", tenant_id=999999),
        record(acme, "x2", meter="teleport_minutes"),
        record(acme, "x3", quantity="-1"),
        record(acme, "x4", quantity="lots"),
        record(acme, "x5", window_end="2026-09-30T00:00:00+05:30"),
        record(acme, ""),
        record(acme, "x7", window_start="2026-10-01T00:00:00"),
        record(acme, "x8", meter="gpu_hours"),
        "not an object",
    ]
    result = post(token, batch).json()
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert result["accepted"] == 1
    assert reasons == {
        1: "Unknown tenant 999999.",
        2: "Unknown meter 'teleport_minutes'.",
        3: "quantity cannot be negative.",
        4: "quantity 'lots' is not a number.",
        5: "window_end is before window_start.",
        6: "idempotency_key is missing.",
        7: "window_start needs a time zone offset (e.g. +05:30 or Z).",
        8: "The gpu_hours meter needs dimensions.gpu_type.",
        9: "A record is a JSON object.",
    }
    assert list(UsageRecord.objects.values_list("idempotency_key", flat=True)) == ["good"]


def test_a_gpu_record_keeps_its_type_for_pricing(acme, token):
    post(token, [record(acme, "g", meter="gpu_hours", dimensions={"gpu_type": "A100"})])
    assert UsageRecord.objects.get().dimension_value == "A100"


def test_a_json_float_quantity_is_read_from_its_text_not_its_binary_value(acme, token):
    post(token, json.dumps([record(acme, "f", quantity=0.1)]))
    assert str(UsageRecord.objects.get().quantity) == "0.100000"


def test_malformed_json_is_400_and_stores_nothing(token):
    response = post(token, '{"records": [')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert post(token, {"records": "nope"}).status_code == 400
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer wrong", "Basic abc"])
def test_a_missing_or_bad_token_is_401(acme, header):
    response = Client().post(
        URL,
        json.dumps([record(acme, "k")]),
        content_type="application/json",
        headers={"Authorization": header} if header else {},
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert not UsageRecord.objects.exists()


def test_a_revoked_token_is_401(acme, billing_admin):
    token, raw = services.ingest_token_create(name="old", actor=billing_admin)
    services.ingest_token_revoke(token=token, actor=billing_admin)
    assert post(raw, [record(acme, "k")]).status_code == 401


def test_only_the_hash_of_a_token_is_stored(billing_admin):
    token, raw = services.ingest_token_create(name="x", actor=billing_admin)
    assert raw not in token.token_hash
    assert token.token_hash == services.token_digest(raw)
    assert raw.startswith(token.prefix)


def test_more_than_a_thousand_records_is_413(acme, token):
    response = post(token, [record(acme, f"k{i}") for i in range(1001)])
    assert response.status_code == 413
    assert not UsageRecord.objects.exists()


def test_a_body_over_the_upload_limit_is_413(acme, token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert post(token, [record(acme, f"k{i}") for i in range(20)]).status_code == 413


def test_get_is_405(token):
    assert Client().get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 405


def test_a_database_outage_is_a_clear_503_and_stores_nothing(acme, token, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ingest, "insert_records", down)
    response = post(token, [record(acme, "k")])
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "retry with the same keys" in response.json()["error"]
    assert not UsageRecord.objects.exists()


@pytest.mark.postgres
def test_a_server_gone_in_the_middle_of_the_copy_is_a_503_not_a_500(acme, token, monkeypatch):
    """The COPY runs on psycopg's own cursor (tests/faults/test_postgres_restart.py met this as
    a 500 when PostgreSQL restarted mid-batch)."""
    import psycopg

    def gone(self, row):
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(psycopg.Copy, "write_row", gone)
    response = post(token, [record(acme, "k")])
    assert response.status_code == 503
    assert "retry with the same keys" in response.json()["error"]
    assert not UsageRecord.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_producers_at_once_with_ten_percent_duplicates_store_each_record_once(
    migrated_rows, acme, billing_admin
):
    _, raw = services.ingest_token_create(name="race", actor=billing_admin)
    unique = [f"u{i}" for i in range(400)]
    # Each producer sends 100 keys of its own plus 10% taken from the others' keys.
    batches = []
    for p in range(4):
        own = unique[p * 100 : (p + 1) * 100]
        shared = [unique[((p + 1) % 4) * 100 + i] for i in range(10)]
        batches.append([record(acme, k) for k in own + shared])
    barrier = threading.Barrier(4)
    results = []

    def produce(batch):
        try:
            barrier.wait()
            results.append(post(raw, batch).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=produce, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert UsageRecord.objects.count() == 400
    assert sum(r["accepted"] for r in results) == 400
    assert sum(r["duplicates"] for r in results) == 40
