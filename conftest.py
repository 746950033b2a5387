"""Root conftest of the validation project.

The suites in suites/ use only the public fixtures of the pytest-prodval plugin (``target``,
``api``, ``api_as``, ``async_api``, ``db``, ``baseline``); the plugin itself is loaded through
its ``pytest11`` entry point once the package is installed.
"""
