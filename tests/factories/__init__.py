"""Test data per domain, made through the services or the API so rows are what the app would
make: `tests.factories.accounts`, `.items`, `.locations`. Import from the domain's module."""
