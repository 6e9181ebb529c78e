from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    from local import stack

    down = [s.name for s in stack.SERVICES if s.pid() is None or not s.ready()]
    if down:
        pytest.fail(f"the local stack is not up ({', '.join(down)}): run `make stack-up`")
