from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator

# Imported once here: pytester's in-process runs drop modules first imported inside a run and
# import them again next time, which is slow (hypothesis) or crashes C extensions (asyncpg).
import asyncpg  # noqa: F401
import hypothesis  # noqa: F401
import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401

import pytest_prodval
import pytest_prodval.baseline.assertions
import pytest_prodval.baseline.kinds.registry
import pytest_prodval.session
import pytest_prodval.target

# The public names load lazily (PEP 562); resolved here once, so that a class first imported
# inside a pytester run (and dropped after it) is not a different class in the next run.
for _name in pytest_prodval.__all__:
    getattr(pytest_prodval, _name)

pytest_plugins = ["pytester"]

LOCAL_CONFIG = """
environments:
  local:
    api:
      base_url: http://127.0.0.1:9
  production:
    protected: true
    api:
      base_url: http://127.0.0.1:9
"""


# What a user's project sets: warnings are errors, and pytest-asyncio's loop scope is explicit
# (the db fixture's pool lives on the session loop).
INI = """
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture(autouse=True)
def user_ini(request: pytest.FixtureRequest) -> None:
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester").makeini(INI)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: a prodval.yaml with an unprotected and a protected environment."""
    pytester.makefile(".yaml", prodval=LOCAL_CONFIG)
    return pytester


@pytest.fixture
def write_config(pytester: pytest.Pytester) -> Callable[[str], None]:
    def write(text: str) -> None:
        (pytester.path / "prodval.yaml").write_text(textwrap.dedent(text))

    return write


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (pgserver ships the binaries), started once per process."""
    # pgserver asks platformdirs for a runtime dir on import, which warns where none is set.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
