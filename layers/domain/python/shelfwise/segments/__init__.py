"""Customer segments for marketing: RFM scoring, named segments, summaries and exports.

- `scoring` — recency / frequency / monetary per user from curated interactions, quintile scores 1-5;
- `mapping` — the documented (R, FM) → segment grid, and `prospects` for users who never purchased;
- `summary` — counts and revenue share per segment;
- `records` — segments-table items, the API response model, CSV/JSON exports;
- `schedule` — which day a run scores;
- `job` — the scheduled run that ties them to S3 and DynamoDB.
"""
