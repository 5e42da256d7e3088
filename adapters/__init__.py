"""The outside world: the OpenID provider client, web routes and the CLI."""
