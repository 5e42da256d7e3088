"""loginledger: race-free, auditable OpenID Connect logins on an event ledger.

The package has three layers, each a subpackage:

- `loginledger.domain`: events, the login state machine, the use cases and the
  ports they need. Pure: it reads no clock and does no I/O of its own.
- `loginledger.infrastructure`: event stores and what keeps data at rest.
- `loginledger.adapters`: the provider client, web routes and the CLI.

`loginledger.testing` holds doubles for a host application's own race tests.
Importing this package imports none of the layers.
"""

__version__ = "0.1.0"
