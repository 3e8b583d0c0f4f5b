import functools
import os
import shutil
import subprocess
import uuid

import pytest
import sqlalchemy as sa

# Our own suite uses the opt-in fixtures exactly as an application would.
pytest_plugins = ["supportflow.testing.pytest_plugin"]


def _missing(message):
    """Skip the test, or fail it under ``CI=true``: CI machines have everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# -- TLS certificates ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def issue_certificate(tmp_path_factory):
    """Make a self-signed certificate with the openssl command.

    Returns ``issue(common_name, alt_name, *, ca=False) -> (cert_path, key_path)``;
    ``alt_name`` is a subjectAltName entry such as ``"IP:127.0.0.1"`` or
    ``"DNS:hooks.example.test"``.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        _missing("the openssl command is not installed; it makes the TLS tests' certificates")

    def issue(common_name, alt_name, *, ca=False):
        folder = tmp_path_factory.mktemp("tls")
        cert, key = folder / "cert.pem", folder / "key.pem"
        extensions = ["-addext", f"subjectAltName={alt_name}"]
        if ca:
            extensions += ["-addext", "basicConstraints=critical,CA:TRUE"]
        subprocess.run(
            [
                *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-subj", f"/CN={common_name}", *extensions),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
        return cert, key

    return issue


# -- databases ----------------------------------------------------------------------------

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url_setting():
    return os.environ.get("SUPPORTFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@functools.cache
def _postgres_problem(url):
    """Why the server at ``url`` cannot be used, or None if it can (asked once per run)."""
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # the driver missing, refused, timed out, bad credentials
        first_line = next(iter(str(exc).splitlines()), "") or repr(exc)
        return f"{type(exc).__name__}: {first_line}"
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """The test PostgreSQL server (``SUPPORTFLOW_TEST_POSTGRES_URL``).

    Tests using it skip when it is unreachable, and fail instead under ``CI=true``.
    """
    url = _postgres_url_setting()
    problem = _postgres_problem(url)
    if problem is not None:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        message = (
            f"PostgreSQL not reachable at {shown} ({problem}); start it or set "
            "SUPPORTFLOW_TEST_POSTGRES_URL to run these tests"
        )
        _missing(message)
    return url


def drop_prefixed_tables(url, prefix):
    """Drop every table whose name starts with ``prefix`` (and what depends on it)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            names = [
                name for name in sa.inspect(connection).get_table_names() if name.startswith(prefix)
            ]
            if names:
                quote = connection.dialect.identifier_preparer.quote
                connection.exec_driver_sql(
                    f"DROP TABLE IF EXISTS {', '.join(quote(name) for name in names)} CASCADE"
                )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def drop_tables():
    """``drop_tables(url, prefix)`` drops the tables whose names start with ``prefix``."""
    return drop_prefixed_tables


@pytest.fixture
def sql_prefix(request):
    """A table prefix of this test's own (``t1a2b3c4_``): tests sharing one
    database never see each other's tables. If the test used ``postgres_url``,
    its tables there are dropped afterwards; SQLite files go with ``tmp_path``."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield prefix
    if (
        "postgres_url" in request.fixturenames
        and _postgres_problem(_postgres_url_setting()) is None
    ):
        drop_prefixed_tables(_postgres_url_setting(), prefix)


@pytest.fixture
def sqlite_url(tmp_path):
    """A SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'supportflow.db'}"
