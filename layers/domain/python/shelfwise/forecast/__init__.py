"""Demand forecasting and replenishment planning.

Why this lives in the domain library rather than a separate layer: one package keeps one set of names and
tests, and the split that matters is by dependency weight, which is kept per module:

- `config`, `schema`, `sharding`, `metrics`, `replenishment` need only the standard library, numpy and
  pyarrow, so the zip Lambdas (planning, API) can import them from the domain layer.
- `series`, `adjustments`, `models`, `engine` need pandas and statsforecast. Only the container-image
  forecast function (`functions/forecast`, whose image installs `functions/forecast/requirements.txt`)
  imports them.

This `__init__` imports nothing, so `import shelfwise.forecast.replenishment` never pulls in pandas.
"""
