"""Sharing: what leaves the hub — the transactional outbox and its delivery."""
