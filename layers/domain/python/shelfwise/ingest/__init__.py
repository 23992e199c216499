"""Ingestion: files under `incoming/<kind>/` become curated Parquet, DynamoDB items and rejection reports.

- `contracts`: what each kind of file must contain (documented from the code: `describe()`).
- `reader`: CSV / CSV.gz / Parquet as raw column chunks with exact line numbers.
- `validate`: vectorized checks; typed valid rows, one rejection per (line, field) problem.
- `report`: safe rejection reports and the per-file manifest.
- `activity`: each user's recent events for online serving.
- `pipeline`: one object end to end (`ingest_object`).
"""
