"""The hub's API for agencies (FastAPI): tokens, citizen reads, the change feed, prefill, consents, subscriptions.

``hub.api.app.build_app`` assembles it; ``hub.api.server`` serves it (``lgsp api serve``).
How a request flows::

    RequestIdMiddleware        X-Request-Id in and out, body cap, last-resort 500 problem
      route                    hub.api.<resource>: validated ids (hub.api.params)
        call_for(...)          bearer token (hub.api.tokens) -> Call; unknown/repeated query params -> 422
        call.check_client()    client_in_reads routes (citizen reads, prefill): the client's registration,
                               first thing on the route's own connection -> 401
        call.require(...)      role and scope -> AccessDenied(wrong_role | scope_missing)
        call.transaction()     policy.require_grant, consent, reads/writes, call.append(ledger entry)
        call.reading()         a read-only route's reads, then call.record(): its entry, grouped
                               with other requests' into one commit (hub.api.grouped_ledger)
      problem handlers         ApiProblem / AccessDenied / validation -> application/problem+json;
                               refusals appended to the ledger (hub.api.problems)
"""
