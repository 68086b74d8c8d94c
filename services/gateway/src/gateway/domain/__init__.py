"""Plain rules of the gateway (no framework, no I/O): roles, API key material, links, audit resources."""
