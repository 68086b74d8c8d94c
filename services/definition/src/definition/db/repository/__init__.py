"""Every query of the definition service, one module per table group (the old file's sections): ``tasks``,
``workflows``, ``dependencies``, ``versions``, ``relations``, ``publish_requests``, ``proposals``; ``reads`` holds the
one-statement reads the list pages use. Functions take the caller's session, ``flush`` at most, never commit."""
