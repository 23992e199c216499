"""The model registry's write side: unpack a trained version, verify it, validate it, gate it, promote it.

- `archive`: a training job's `model.tar.gz` unpacked safely into a local version directory.
- `manifest`: the version contract (manifest.json with sha256 per file, metrics.json with the gate object).
- `validators`: a smoke test per model name (the model loads and answers a query).
- `gate`: the promotion rule (absolute floors, bounded drop against the version in service).
- `promotion`: the whole decision for one S3 object, writing the registry item and publishing the event.
"""
