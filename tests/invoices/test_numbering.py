"""Invoice numbers: PREFIX/YYYY/NNNNN, at most 16 characters, gapless and consecutive per financial
year (CGST Rule 46(b)); assigned at finalization, so drafts have none."""

import datetime
import re
import threading

import pytest
import time_machine
from django.db import connection

from invoices import services
from invoices.lifecycle import InvoiceActionError
from invoices.models import Invoice, InvoiceEvent, InvoiceSequence
from invoices.services import financial_year_of, format_invoice_number
from tests.factories import TenantFactory
from tests.invoices.builders import DEFAULT_LINES, IST, noon_ist, reload, snapshot

S = Invoice.Status
SHAPE = re.compile(r"^[A-Z0-9]{1,5}/\d{4}/\d{5}$")
MID_JUNE_2026 = noon_ist(datetime.date(2026, 6, 15))


def finalize(make_invoice, billing_admin, **options) -> Invoice:
    invoice = make_invoice(S.DRAFT, **options)
    services.invoice_finalize(invoice=invoice, actor=billing_admin)
    return reload(invoice)


def test_a_finalized_invoice_is_numbered_prefix_year_and_sequence(make_invoice, billing_admin):
    with time_machine.travel(MID_JUNE_2026):
        invoice = finalize(make_invoice, billing_admin)
    assert invoice.number == "CRS/2627/00001"
    assert SHAPE.match(invoice.number)
    assert len(invoice.number) <= 16
    assert (invoice.financial_year, invoice.sequence) == (2026, 1)
    assert invoice.issue_date == datetime.date(2026, 6, 15)


def test_drafts_have_no_number(make_invoice, billing_admin):
    draft = make_invoice(S.DRAFT)
    assert (draft.number, draft.financial_year, draft.sequence) == (None, None, None)
    assert str(draft) == f"Draft #{draft.pk}"
    replacement = services.invoice_regenerate(
        invoice=make_invoice(S.SENT), actor=billing_admin, reason="Wrong rate"
    )
    assert replacement.number is None
    assert InvoiceSequence.objects.get().last_number == 1  # the sent invoice's number only


def test_numbers_are_consecutive_within_a_financial_year(make_invoice, billing_admin):
    with time_machine.travel(MID_JUNE_2026):
        first = finalize(make_invoice, billing_admin)
        sent = make_invoice(S.SENT)
        third = make_invoice(S.DRAFT)
        services.invoice_send(invoice=third, actor=billing_admin)  # finalized on the way
        third = reload(third)
        fourth = finalize(make_invoice, billing_admin)
    assert [first.number, sent.number, third.number, fourth.number] == [
        "CRS/2627/00001",
        "CRS/2627/00002",
        "CRS/2627/00003",
        "CRS/2627/00004",
    ]
    assert InvoiceSequence.objects.get(financial_year=2026).last_number == 4


def test_the_series_restarts_at_00001_when_the_financial_year_turns_on_1_april(
    make_invoice, billing_admin
):
    with time_machine.travel(noon_ist(datetime.date(2027, 3, 31))):
        march = [finalize(make_invoice, billing_admin).number for _ in range(2)]
    with time_machine.travel(noon_ist(datetime.date(2027, 4, 1))):
        april = [finalize(make_invoice, billing_admin).number for _ in range(2)]
    assert march == ["CRS/2627/00001", "CRS/2627/00002"]
    assert april == ["CRS/2728/00001", "CRS/2728/00002"]
    assert dict(InvoiceSequence.objects.values_list("financial_year", "last_number")) == {
        2026: 2,
        2027: 2,
    }


def test_the_financial_year_turns_at_midnight_in_india_not_in_utc(make_invoice, billing_admin):
    last_minute = datetime.datetime(2027, 3, 31, 23, 59, tzinfo=IST)
    first_minute = datetime.datetime(2027, 4, 1, 0, 1, tzinfo=IST)  # still 31 March in UTC
    with time_machine.travel(last_minute):
        march = finalize(make_invoice, billing_admin)
    with time_machine.travel(first_minute):
        april = finalize(make_invoice, billing_admin)
    assert (march.number, march.issue_date) == ("CRS/2627/00001", datetime.date(2027, 3, 31))
    assert (april.number, april.issue_date) == ("CRS/2728/00001", datetime.date(2027, 4, 1))


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (datetime.date(2026, 4, 1), 2026),
        (datetime.date(2027, 3, 31), 2026),
        (datetime.date(2027, 1, 1), 2026),
        (datetime.date(2026, 12, 31), 2026),
        (datetime.date(2026, 3, 31), 2025),
    ],
)
def test_the_financial_year_runs_april_to_march(day, year):
    assert financial_year_of(day) == year


def test_a_five_character_prefix_makes_exactly_sixteen_characters(
    make_invoice, billing_admin, provider
):
    provider.invoice_number_prefix = "CIRRU"
    provider.save()
    with time_machine.travel(MID_JUNE_2026):
        invoice = finalize(make_invoice, billing_admin)
    assert invoice.number == "CIRRU/2627/00001"
    assert len(invoice.number) == 16
    assert invoice.supplier["legal_name"] == provider.legal_name


def test_the_year_part_wraps_at_the_century():
    assert format_invoice_number("CRS", 2099, 7) == "CRS/9900/00007"


def test_a_number_longer_than_sixteen_characters_is_refused_and_takes_nothing(
    make_invoice, billing_admin, provider
):
    provider.invoice_number_prefix = "CIRRU"
    provider.save()
    with pytest.raises(InvoiceActionError, match="exceed 16 characters"):
        format_invoice_number("CIRRU", 2026, 100_000)
    with time_machine.travel(MID_JUNE_2026):
        InvoiceSequence.objects.create(financial_year=2026, last_number=99_999)
        draft = make_invoice(S.DRAFT)
        before = snapshot(draft)
        with pytest.raises(InvoiceActionError, match="shorten the prefix"):
            services.invoice_finalize(invoice=draft, actor=billing_admin)
    assert snapshot(draft) == before
    assert InvoiceSequence.objects.get(financial_year=2026).last_number == 99_999


def test_a_finalization_that_fails_after_taking_a_number_gives_it_back(
    make_invoice, billing_admin, monkeypatch
):
    real_transition = services.invoice_transition

    def transition_then_fail(**kwargs):
        real_transition(**kwargs)  # number, status and timeline row are written ...
        raise ConnectionError("database went away")  # ... and then the transaction fails

    with time_machine.travel(MID_JUNE_2026):
        first = finalize(make_invoice, billing_admin)
        unlucky = make_invoice(S.DRAFT)
        before = snapshot(unlucky)
        monkeypatch.setattr(services, "invoice_transition", transition_then_fail)
        with pytest.raises(ConnectionError):
            services.invoice_finalize(invoice=unlucky, actor=billing_admin)
        monkeypatch.undo()
        assert snapshot(unlucky) == before  # still a draft, no number, no "finalized" event
        assert not InvoiceEvent.objects.filter(invoice=unlucky, type="finalized").exists()

        retried = reload(services.invoice_finalize(invoice=unlucky, actor=billing_admin))
        after = finalize(make_invoice, billing_admin)
    assert [first.number, retried.number, after.number] == [
        "CRS/2627/00001",
        "CRS/2627/00002",
        "CRS/2627/00003",
    ]


def test_a_refused_finalization_takes_no_number(make_invoice, billing_admin):
    with time_machine.travel(MID_JUNE_2026):
        pending = make_invoice(S.PENDING)
        with pytest.raises(InvoiceActionError):
            services.invoice_finalize(invoice=pending, actor=billing_admin)
        nxt = finalize(make_invoice, billing_admin)
    assert (pending.number, nxt.number) == ("CRS/2627/00001", "CRS/2627/00002")


RACERS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_finalizations_racing_get_twenty_consecutive_numbers(provider):
    # One tenant each: invoice_lock's SELECT ... FOR UPDATE joins the tenant and so locks its row
    # too, which would queue one tenant's finalizations before they reach the number series.
    tenants = TenantFactory.create_batch(RACERS)
    with time_machine.travel(MID_JUNE_2026):
        drafts = [
            services.invoice_create(tenant=tenant, lines=DEFAULT_LINES, actor=None)
            for tenant in tenants
        ]
        barrier = threading.Barrier(RACERS)
        numbers: list[str] = []
        errors: list[BaseException] = []

        def race(invoice: Invoice) -> None:
            try:
                barrier.wait(timeout=30)
                # The system finalizes (as the monthly run does): no staff group needed, since a
                # transactional test's flush removes the groups the migrations made.
                numbers.append(services.invoice_finalize(invoice=invoice, actor=None).number)
            except BaseException as error:  # reported by the main thread
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=race, args=(draft,)) for draft in drafts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    expected = [f"CRS/2627/{n:05d}" for n in range(1, RACERS + 1)]
    assert sorted(numbers) == expected
    assert sorted(Invoice.objects.values_list("number", flat=True)) == expected
    assert InvoiceSequence.objects.get(financial_year=2026).last_number == RACERS
