#!/usr/bin/python3
"""Contender "requests" of the side-by-side benchmarks (compare.py): sequential
client-credentials requests with Debian's python3-requests, one Session (its
connection kept alive), HTTP Basic client authentication, verification against
the test CA only; each answer must be 200 with a JSON body holding a non-empty
access_token.

  /usr/bin/python3 requests_loop.py --url URL --ca FILE --id ID --secret S --n N [--warmup W]

After W warm-up requests, times N requests (wall clock and resource.getrusage(RUSAGE_SELF)) and
prints one JSON line.
"""
import argparse
import json
import resource
import sys
import time

import requests

p = argparse.ArgumentParser()
for name in ("url", "ca", "id", "secret"):
    p.add_argument("--" + name, required=True)
p.add_argument("--n", type=int, default=100)
p.add_argument("--warmup", type=int, default=20)
a = p.parse_args()

session = requests.Session()
session.verify = a.ca  # and per request too: REQUESTS_CA_BUNDLE would override the session's
session.auth = (a.id, a.secret)
first_error = None


def run(count):
    global first_error
    ok = 0
    for _ in range(count):
        try:
            r = session.post(a.url, data={"grant_type": "client_credentials"}, verify=a.ca)
            token = r.json().get("access_token") if r.status_code == 200 else None
            if isinstance(token, str) and token:
                ok += 1
            elif first_error is None:
                first_error = "HTTP %d: %s" % (r.status_code, r.text[:200])
        except Exception as e:  # noqa: BLE001 - counted, reported once
            if first_error is None:
                first_error = repr(e)
    return ok


warm_ok = run(a.warmup)
c0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
ok = run(a.n)
t1 = time.perf_counter()
c1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"client": "requests", "n": a.n, "ok": ok, "wall_s": t1 - t0,
                  "user_s": c1.ru_utime - c0.ru_utime, "sys_s": c1.ru_stime - c0.ru_stime,
                  "warmup_ok": warm_ok, "requests": requests.__version__}), flush=True)
if first_error:
    print("requests_loop: first error: " + first_error, file=sys.stderr)
sys.exit(0 if ok == a.n and warm_ok == a.warmup else 1)
