"""A read-only JSON API for the school's SIS team (docs/operations.md, "The SIS API"): programs, assignments and
their Canvas links, behind tokens an administrator issues per program."""
