"""A registry that survives restarts: keep it in a SQLite file, reopen it, read its history.

Every command that changes the registry is one record in the store; reopening replays them (from
the newest snapshot), so the second registry below, opened on the same file as another process
would open it, sees exactly what the first one committed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from restate_versioning.storage import SQLiteStorage, StoredRegistry

MANIFEST = {
    "protocolMode": "REQUEST_RESPONSE",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [{"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]}],
}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "registry.db"

        with StoredRegistry(SQLiteStorage(path)) as first:
            v1 = first.register("http://greeter-v1:9080", MANIFEST).deployment
            call = first.invoke("Greeter", "greet")
            first.register("http://greeter-v2:9080", MANIFEST)
            print(f"first registry: {v1.id} is {first.registry.deployment_status(v1.id).value}")

        with StoredRegistry(SQLiteStorage(path)) as second:
            print(
                f"the registry opened again sees {len(second.registry.deployments())} deployments"
            )
            second.complete(call.id)
            print(f"after the call completes, {v1.id} is ", end="")
            print(second.registry.deployment_status(v1.id).value)
            print("history:")
            for record in second.history():
                print(f"  {record.sequence}. {record.command}: {record.summary}")


if __name__ == "__main__":
    main()
