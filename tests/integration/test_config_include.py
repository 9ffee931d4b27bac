"""%include in the config file: included settings apply, reloads read included files again, and a
bad included file is reported by its own name and line."""

import signal

import pytest

from admin_helpers import config, console
from helpers import wait_for
from test_config_signals import names_file_line_key, run_to_exit


def with_include(proxy, name, text):
    """Make the proxy's config end with `%include name` (relative: the proxy runs in its work
    directory) and write name with text; return name's path."""
    base = proxy.config_text
    proxy.config_text = lambda: base() + f"%include {name}\n"
    path = proxy.workdir / name
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_included_settings_apply_and_reload(pgrouter):
    proxy = pgrouter(launch=False)
    part = with_include(proxy, "pool.ini", "; pool sizes live here\ndefault_pool_size = 3\n")
    proxy.start()
    with console(proxy, dbname="pgbouncer") as c:
        assert config(c)["default_pool_size"] == "3"
    part.write_text("default_pool_size = 4\nmax_client_conn = 55\n")
    proxy.reload()
    with console(proxy, dbname="pgbouncer") as c:
        wait_for(lambda: config(c)["default_pool_size"] == "4", timeout=5, what="the reload")
        assert config(c)["max_client_conn"] == "55"
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_bad_included_file_is_named_with_its_line(pgrouter):
    proxy = pgrouter(launch=False)
    part = with_include(proxy, "part.ini", "\nmax_client_conn = 20\ndefault_pool_size = lots\n")
    proxy.write_config()
    rc, out = run_to_exit(proxy, proxy.ini)
    assert rc != 0, out
    assert names_file_line_key(out, part, 3, "default_pool_size"), out


@pytest.mark.pgrouter_only
def test_missing_include_and_loop_stop_startup(pgrouter):
    proxy = pgrouter(launch=False)
    with_include(proxy, "loop.ini", "\n%include loop.ini\n")
    proxy.write_config()
    rc, out = run_to_exit(proxy, proxy.ini)
    assert rc != 0 and "loop.ini:2: %include: loop.ini: include loop" in out, out
    (proxy.workdir / "loop.ini").write_text("%include gone.ini\n")
    rc, out = run_to_exit(proxy, proxy.ini)
    assert rc != 0 and "loop.ini:1: %include: gone.ini: cannot open: No such file" in out, out


@pytest.mark.pgrouter_only
def test_reload_with_broken_include_keeps_running(pgrouter):
    proxy = pgrouter(launch=False)
    part = with_include(proxy, "pool.ini", "default_pool_size = 3\n")
    proxy.start()
    part.write_text("default_pool_size = 3\nbogus = 1\n")
    proxy.send_signal(signal.SIGHUP)
    wait_for(lambda: "pool.ini:2: bogus: unknown setting" in proxy.log, timeout=5, what="the reload error")
    assert proxy.alive()
    with console(proxy) as c:
        assert config(c)["default_pool_size"] == "3"
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
