"""The rules of the clinic, one module per concern; `app.domain.decide` dispatches a command to
the rule that decides it."""
