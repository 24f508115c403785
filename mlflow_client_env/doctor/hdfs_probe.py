"""The HDFS end-to-end probe, run as ``python -m mlflow_client_env.doctor.hdfs_probe URI``.

It connects the way MLflow's HDFS artifact repository does (pyarrow's
HadoopFileSystem, host from the URI or 'default', the ticket cache from
MLFLOW_KERBEROS_TICKET_CACHE), then writes, reads back and deletes one small
file under URI. It runs in its own process because the JVM, and any failure to
load libjvm/libhdfs, is fixed for the life of a process (catalog A4).
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import urlparse

PAYLOAD = b"mlflow-client-env probe\n"


def main(argv: list[str]) -> int:
    uri = argv[0]
    u = urlparse(uri)
    host = f"{u.scheme}://{u.hostname}" if u.hostname else "default"
    t0 = time.monotonic()
    import pyarrow.fs as pafs

    fs = pafs.HadoopFileSystem(
        host, u.port or 0, kerb_ticket=os.environ.get("MLFLOW_KERBEROS_TICKET_CACHE")
    )
    connected = time.monotonic()
    path = f"{u.path.rstrip('/')}/.mlflow-client-env-probe-{os.getpid()}"
    fs.create_dir(u.path or "/", recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(PAYLOAD)
    with fs.open_input_stream(path) as inp:
        data = inp.read()
    fs.delete_file(path)
    print(
        json.dumps(
            {
                "ok": data == PAYLOAD,
                "path": path,
                "connect_seconds": connected - t0,
                "seconds": time.monotonic() - t0,
            }
        )
    )
    return 0 if data == PAYLOAD else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
