import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD


def sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_sign_in_and_out(owner):
    client = Client()
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert (
        client.get(reverse("tenants:detail", args=[owner.memberships.get().tenant_id])).status_code
        == 200
    )
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # back to the login page


def test_a_wrong_password_says_so_without_saying_which_part_was_wrong(owner):
    response = sign_in(Client(), "alice", "wrong")
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_repeated_failures_lock_the_account_even_for_the_right_password(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        sign_in(client, "alice", "wrong")
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_case_blind(owner, viewer, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        sign_in(Client(), "ALICE", "wrong")
    assert "Too many" in sign_in(Client(), "alice", PASSWORD).content.decode()
    assert sign_in(Client(), "bob", PASSWORD).status_code == 302


def test_a_success_before_the_limit_resets_the_count(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        sign_in(Client(), "alice", "wrong")
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302
    for _ in range(2):
        sign_in(Client(), "alice", "wrong")
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_password_reset_by_email_sets_a_new_password(owner):
    client = Client()
    response = client.post(reverse("password_reset"), {"email": owner.email})
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == [owner.email]
    assert message.alternatives  # an HTML part beside the text
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    form_url = client.get(link).url  # Django swaps the token for a session-held one
    response = client.post(
        form_url,
        {"new_password1": "a-much-better-passphrase", "new_password2": "a-much-better-passphrase"},
    )
    assert response.status_code == 302
    assert sign_in(Client(), "alice", "a-much-better-passphrase").status_code == 302


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(db):
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_password_change_requires_the_old_password(owner):
    client = Client()
    client.force_login(owner)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": "x-new-passphrase-1",
            "new_password2": "x-new-passphrase-1",
        },
    )
    assert "Your old password was entered incorrectly" in response.content.decode()
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "x-new-passphrase-1",
            "new_password2": "x-new-passphrase-1",
        },
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("x-new-passphrase-1")


def test_people_can_still_sign_in_while_the_cache_is_down(owner, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    for method in ("get_many", "add", "incr", "delete"):
        monkeypatch.setattr(cache, method, down)
    assert sign_in(Client(), "alice", "wrong").status_code == 200  # refused, not a 500
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302
