"""A Django app of the tests: its ``engineio_handlers`` module is autodiscovered."""
