"""The design page, asked for twice with the same inputs: the first load simulates (five simulations of the whole
trial), the second answers from the simulation cache (``services/design.simulate_design``). Both loads are timed in
this process and the ratio printed (first / second), so the machine's speed cancels out.

    python benchmarks/bench_design_page.py [--trials 2000] [--seed 20250623]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRIALDESK_ARGON2_PROFILE", "fast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20250623)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from trialdesk.bootstrap import bootstrap
    from trialdesk.domain.access import SYSTEM
    from trialdesk.entrypoints.web.app import create_app
    from trialdesk.services import accounts
    from trialdesk.services import design as design_service

    with tempfile.TemporaryDirectory() as folder:
        os.environ["TRIALDESK_DATA_DIR"] = folder
        td = bootstrap(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        password = "bench design page password"
        with td.uow("bench") as uow:
            accounts.add_user(uow, SYSTEM, "stat.bench", [("statistician", None)], password=password)
            uow.commit()
        with TestClient(create_app(td_app=td)) as client:
            page = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"username": "stat.bench", "password": password, "csrf_token": token})
            if "/account/password" in str(client.get("/ops").url):
                form = client.get("/account/password").text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                new = password + "!"
                client.post(
                    "/account/password", data={"current": password, "new": new, "confirm": new, "csrf_token": csrf}
                )
            params = {"trials": args.trials, "seed": args.seed}
            design_service._simulations.clear()
            times = []
            for _ in range(2):
                t = time.perf_counter()
                answer = client.get("/ops/design", params=params)
                times.append(time.perf_counter() - t)
                assert answer.status_code == 200 and 'id="design-form"' in answer.text, answer.url
        td.dispose()
    first, second = times
    print(f"design page, {args.trials} trials: first load {first:.2f} s, same inputs again {second:.3f} s")
    print(f"ratio first/second: {first / second:.1f}x (the second answers from the simulation cache; what is left is")
    print("drawing the two figures and the page)")


if __name__ == "__main__":
    main()
