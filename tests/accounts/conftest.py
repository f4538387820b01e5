from tests.accounts.canvas_world import world  # noqa: F401
