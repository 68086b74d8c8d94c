"""The publisher's tables and every query on them."""
