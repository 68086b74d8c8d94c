"""The gateway's tables (schema ``gateway`` through the search path) and every query on them."""
