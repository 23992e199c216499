"""Customer data rights: keyed pseudonyms at the platform's edge, access, erasure and retention."""
