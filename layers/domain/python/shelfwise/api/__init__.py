"""The platform's HTTP surface: shared resolver factory (`http`), error types (`errors`), response models.

Importing this package is cheap and AWS-free; `shelfwise.api.errors` can be raised from any domain code.
"""
