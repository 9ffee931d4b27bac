"""The default auth_type is PgBouncer's md5: a config without an auth_type line checks passwords,
and configs whose logins are not what their secrets suggest are warned about at startup."""

import psycopg
import pytest

from conftest import userlist_text
from helpers import db_entry

APP_PASSWORD = "app-pw-4711"


def start_without_auth_type(pgrouter, userlist=None, **settings):
    """A proxy whose config has no auth_type line; userlist ({user: secret}) becomes its auth_file."""
    proxy = pgrouter(launch=False, auth_type=None, **settings)
    if userlist is not None:
        path = proxy.workdir / "users.txt"
        path.write_text(userlist_text(userlist))
        path.chmod(0o644)
        proxy.settings["auth_file"] = str(path)
    return proxy.start()


def login_error(proxy, **kw):
    """The error message of a login through proxy that must fail (None if it succeeded)."""
    try:
        proxy.connect(**kw).close()
    except psycopg.OperationalError as e:
        return str(e)
    return None


def test_default_auth_type_checks_the_password(pgrouter):
    """No auth_type line: the right password logs in, a wrong or missing one does not."""
    proxy = start_without_auth_type(pgrouter, userlist={"pgr_app": APP_PASSWORD})
    with proxy.connect(user="pgr_app", password=APP_PASSWORD) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "pgr_app"
    err = login_error(proxy, user="pgr_app", password="not-the-password")
    assert err is not None and "password authentication failed" in err, err
    err = login_error(proxy, user="pgr_app", password="")
    assert err is not None, "a login without a password got in"


@pytest.mark.pgrouter_only
def test_default_auth_type_without_secrets_lets_nobody_in(pgrouter, cluster):
    """A PgBouncer file relying on the default with only a server password in [databases]: pgrouter
    starts (as PgBouncer does), says why logins will fail, and refuses any password."""
    entry = db_entry(cluster, user="pgr_app", password="pgr_app")
    proxy = start_without_auth_type(pgrouter, databases={"postgres": entry})
    assert "auth_type is md5 (the default, as in PgBouncer) but neither auth_file nor auth_user is set" \
        in proxy.log, proxy.log_tail()
    for password in ("pgr_app", "anything"):
        err = login_error(proxy, user="pgr_app", password=password)
        assert err is not None and "password authentication failed" in err, err


@pytest.mark.pgrouter_only
@pytest.mark.parametrize("auth_type", ["trust", "any"])
def test_no_password_with_secrets_configured_is_warned_about(pgrouter, cluster, auth_type):
    """trust/any with an auth_file: the secrets are never checked, and the log says so at startup."""
    proxy = pgrouter(launch=False, auth_type=auth_type,
                     databases={"postgres": db_entry(cluster, user="pgr_app")})
    path = proxy.workdir / "users.txt"
    path.write_text(userlist_text({"pgr_app": APP_PASSWORD}))
    proxy.settings["auth_file"] = str(path)
    proxy.start()
    assert f"auth_type = {auth_type} lets every client in without a password although auth_file is set" \
        in proxy.log, proxy.log_tail()
