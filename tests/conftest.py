"""Project-wide pytest options and fixtures. Package-specific fixtures live in
each test folder's own conftest.py."""
