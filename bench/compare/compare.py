#!/usr/bin/python3
"""Side-by-side token benchmarks of tetrapak-asio and the clients people use
today (benchmarks 1, 2, 6, 7 and 8 of bench/README.md). Python 3 standard library only.

  compare.py --build-dir DIR [--smoke] [--rounds R] [--only 1,2,6,7,8] [--out DIR] ...

Starts its own servers on 127.0.0.1 (certificates made now by
test/server/gen-certs.sh):
  oidc   the project's test authorization server (oidc-provider, test/server/server.mjs)
  nginx  nginx serving a fixed token answer at /token over TLS (the client's own cost shows)

1  keep-alive: sequential client-credentials fetches over one kept-alive connection
   (tetrapak, curl-reuse, openid-client, requests), against both servers
2  fresh connection per fetch (tetrapak-fresh, tetrapak-fresh-noresume, curl-fresh,
   curl-fresh-share), against both servers
6  example/beast_microservice under wrk: GET /orders (cached token) vs GET /orders-noauth
7  proxy overhead: tetrapak direct vs through tinyproxy (CONNECT tunnel), kept alive
   and fresh, with libcurl through the same proxy as the peer, against both servers
8  a burst of 3,000 token exchanges for distinct audiences under RLIMIT_NOFILE 1024,
   without a connection bound and with the default bound of 32, against oidc

Every contender is a separate process that warms up, then times N fetches and
prints one JSON line (wall time, CPU user+sys from its own getrusage, tokens
obtained). Contenders run interleaved, round after round (A B C D, B C D A, ...),
against the same server in the same run. Reported per server and benchmark: the
median over rounds and the spread (min..max), and the ratio to libcurl taken
round by round (each round's contender against that round's curl), median and
spread. Machines are noisy: read ratios and spreads, not single absolute times.

--smoke: one short round of everything; checks that each contender got all its
tokens, that connection counts are what the mode promises, and that wrk saw no
error. Exit status 0 when every check passed.
"""
import argparse
import base64
import ctypes
import json
import os
import random
import resource
import re
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"  # Debian's, with python3-requests
CLIENT_ID, CLIENT_SECRET = "basic-client", "basic-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Variables of this machine that point every TLS stack at the system bundle:
# each contender trusts exactly the generated test CA instead.
TRUST_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")

failures = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this driver dies (killed by a ctest timeout, say)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """CPU seconds of a process so far: the sum over its threads of
    /proc/PID/task/TID/schedstat (nanoseconds on CPU), else /proc/PID/stat
    (user + sys in clock ticks, 10 ms resolution)."""
    try:
        total = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


# --------------------------------------------------------------------------- servers

def wait_listening(proc, port, seconds=10):
    """True once 127.0.0.1:port accepts a connection; False if `proc` exits or time runs out."""
    deadline = time.time() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                return False
            time.sleep(0.05)


class OidcServer:
    name = "oidc"
    title = "oidc-provider (test/server/server.mjs)"

    def __init__(self, work, certs, extra_args=()):
        self.ca = os.path.join(certs, "ca.pem")
        self.log_path = os.path.join(work, "oidc-%d.log" % id(self))
        self.proc = subprocess.Popen(
            ["node", os.path.join(SOURCE, "test/server/server.mjs"), "--certs", certs, "--port", "0",
             "--ttl", "3600", "--keep-alive-ms", "120000", *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log_path, "w"))
        line = self.proc.stdout.readline().decode()  # "READY <port>" (it exits when stdin closes)
        if not line.startswith("READY "):
            raise RuntimeError("oidc-provider did not start: %r\n%s" % (line, open(self.log_path).read()))
        self.port = int(line.split()[1])
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.url = self.issuer + "/token"
        self.tls = ssl.create_default_context(cafile=self.ca)

    def server_pids(self):
        return [self.proc.pid]

    def stats(self):
        """The server's counters; this request's own connection is counted in them."""
        with urllib.request.urlopen(self.issuer + "/test/stats", context=self.tls, timeout=10) as r:
            return json.load(r)

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class NginxServer:
    name = "nginx"
    title = "nginx (fixed token JSON over TLS)"

    def __init__(self, work, certs):
        self.ca = os.path.join(certs, "ca.pem")
        self.dir = os.path.join(work, "nginx")
        for d in ("", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.port = free_port()
        token = "".join(random.choice(string.ascii_letters + string.digits + "-_") for _ in range(43))
        # The same shape as oidc-provider's client-credentials answer.
        self.body = json.dumps({"access_token": token, "expires_in": 3600, "token_type": "Bearer"},
                               separators=(",", ":"))
        conf = open(os.path.join(HERE, "nginx.conf.in")).read()
        for k, v in (("@DIR@", self.dir), ("@PORT@", str(self.port)), ("@CERTS@", certs), ("@BODY@", self.body)):
            conf = conf.replace(k, v)
        conf_path = os.path.join(self.dir, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.log_path = os.path.join(self.dir, "error.log")
        self.proc = subprocess.Popen([nginx, "-p", self.dir, "-e", self.log_path, "-c", conf_path, "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "w"),
                                     preexec_fn=die_with_parent)
        if not wait_listening(self.proc, self.port):
            raise RuntimeError("nginx did not start:\n" + open(os.path.join(self.dir, "stderr.log")).read()
                               + (open(self.log_path).read() if os.path.exists(self.log_path) else ""))
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.url = self.issuer + "/token"

    def server_pids(self):
        pids = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def stats(self):
        return None

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class TinyProxy:
    """tinyproxy on loopback, for benchmark 7 (its CPU is not counted as the client's)."""

    def __init__(self, work):
        self.dir = os.path.join(work, "tinyproxy")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "proxy.log")
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 120\nMaxClients 64\nLogFile \"%s\"\n"
                    "LogLevel Warning\nPidFile \"%s\"\nDisableViaHeader Yes\n"
                    % (self.port, self.log_path, os.path.join(self.dir, "pid")))
        self.proc = subprocess.Popen([shutil.which("tinyproxy") or "/usr/bin/tinyproxy", "-d", "-c", conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        if not wait_listening(self.proc, self.port):
            raise RuntimeError("tinyproxy did not start")
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --------------------------------------------------------------------------- contenders

class Contender:
    def __init__(self, name, describe, argv_fn, fresh):
        self.name, self.describe, self.argv_fn, self.fresh = name, describe, argv_fn, fresh


def contenders(build):
    loop_dir = os.path.join(build, "bench", "compare")
    tp = os.path.join(loop_dir, "tetrapak_compare_loop")
    cu = os.path.join(loop_dir, "curl_compare_loop")

    def common(srv):
        return ["--url", srv.url, "--ca", srv.ca, "--id", CLIENT_ID, "--secret", CLIENT_SECRET]

    def tetrapak(*flags):
        return lambda srv: [tp, *common(srv), *flags]

    def curl(mode):
        return lambda srv: [cu, *common(srv), "--mode", mode]

    keep = [
        Contender("tetrapak", "tetrapak-asio, force_authorization, pooled keep-alive connection", tetrapak(), False),
        Contender("curl-reuse", "libcurl, one easy handle reused (keep-alive)", curl("reuse"), False),
        Contender("openid-client", "openid-client clientCredentialsGrant, Node fetch (keep-alive)",
                  lambda srv: ["node", os.path.join(HERE, "openid_client_loop.mjs"), "--url", srv.url,
                               "--issuer", srv.issuer, "--id", CLIENT_ID, "--secret", CLIENT_SECRET], False),
        Contender("requests", "python3-requests, one Session (keep-alive)",
                  lambda srv: [PYTHON, os.path.join(HERE, "requests_loop.py"), *common(srv)], False),
    ]
    fresh = [
        Contender("tetrapak-fresh", "tetrapak-asio, max_idle_per_endpoint=0, tls_session_resumption=true",
                  tetrapak("--fresh"), True),
        Contender("tetrapak-fresh-noresume", "tetrapak-asio, max_idle_per_endpoint=0, tls_session_resumption=false",
                  tetrapak("--fresh", "--no-resume"), True),
        Contender("curl-fresh", "libcurl, a new easy handle per request", curl("fresh"), True),
        Contender("curl-fresh-share", "libcurl, a new easy handle per request, CURLSH sharing TLS sessions",
                  curl("fresh-share"), True),
    ]
    return keep, fresh


def proxy_contenders(build, proxy):
    """Benchmark 7: tetrapak-asio direct and through `proxy`, kept alive and fresh."""
    tp = os.path.join(build, "bench", "compare", "tetrapak_compare_loop")

    def tetrapak(*flags):
        return lambda srv: [tp, "--url", srv.url, "--ca", srv.ca, "--id", CLIENT_ID, "--secret", CLIENT_SECRET, *flags]

    cu = os.path.join(build, "bench", "compare", "curl_compare_loop")

    def curl(*flags):
        return lambda srv: [cu, "--url", srv.url, "--ca", srv.ca, "--id", CLIENT_ID, "--secret", CLIENT_SECRET, *flags]

    keep = [Contender("tetrapak", "tetrapak-asio, keep-alive, direct", tetrapak(), False),
            Contender("tetrapak-proxy", "tetrapak-asio, keep-alive, through tinyproxy (one CONNECT tunnel)",
                      tetrapak("--proxy", proxy.url), False),
            Contender("curl-reuse-proxy", "libcurl, one handle, through tinyproxy", curl("--mode", "reuse",
                                                                                      "--proxy", proxy.url), False)]
    fresh = [Contender("tetrapak-fresh", "tetrapak-asio, a new connection each, direct", tetrapak("--fresh"), True),
             Contender("tetrapak-fresh-proxy", "tetrapak-asio, a new connection each, a CONNECT tunnel each",
                       tetrapak("--fresh", "--proxy", proxy.url), True),
             Contender("curl-fresh-share-proxy", "libcurl, a new handle each (sessions shared), a tunnel each",
                       curl("--mode", "fresh-share", "--proxy", proxy.url), True)]
    return keep, fresh


def child_env(ca):
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARS}
    env["NODE_EXTRA_CA_CERTS"] = ca  # openid-client trusts the test CA (in addition to Node's own roots)
    return env


def run_contender(c, srv, n, warmup, check_conns):
    argv = c.argv_fn(srv) + ["--n", str(n), "--warmup", str(warmup)]
    before = srv.stats()
    cpu0 = [proc_cpu_s(p) for p in srv.server_pids()]
    try:
        p = subprocess.run(argv, env=child_env(srv.ca), capture_output=True, text=True, timeout=300, cwd=HERE)
    except subprocess.TimeoutExpired:
        fail("%s against %s: no answer within 300 s" % (c.name, srv.name))
        return None
    cpu1 = [proc_cpu_s(p) for p in srv.server_pids()]
    after = srv.stats()
    line = next((l for l in reversed(p.stdout.splitlines()) if l.startswith("{")), None)
    try:
        r = json.loads(line) if line else None
    except ValueError:
        r = None
    if p.returncode != 0 or r is None:
        fail("%s against %s: exit %d, %s\n  stdout: %s\n  stderr: %s" % (
            c.name, srv.name, p.returncode, "no JSON line" if r is None else "ok %s of %s" % (r.get("ok"), n),
            p.stdout.strip()[-500:], p.stderr.strip()[-1500:]))
        return None
    if r.get("ok") != n or not r.get("wall_s", 0) > 0 or r.get("user_s", -1) < 0 or r.get("sys_s", -1) < 0:
        fail("%s against %s: insane result %s" % (c.name, srv.name, line))
        return None
    r["server_cpu_s"] = sum(b - a for a, b in zip(cpu0, cpu1) if a is not None and b is not None) if cpu0 else None
    if before is not None and after is not None:
        # the later /test/stats request opened one connection of its own
        r["server_connections"] = after["connections"] - before["connections"] - 1
        r["server_resumed"] = after["resumed_connections"] - before["resumed_connections"]
        r["server_token_requests"] = after["token_requests"] - before["token_requests"]
    if check_conns:
        # fresh: one per request; kept alive: not one per request (Node's fetch may open a second)
        want = n + warmup if c.fresh else 2
        got = r.get("server_connections")
        if got is not None and (got != want if c.fresh else got > want):
            fail("%s against %s: the server saw %d new connections, expected %s%d" % (
                c.name, srv.name, got, "" if c.fresh else "at most ", want))
        if "connections_opened" in r:  # the client's own count, timed part only
            want_client = n if c.fresh else 0
            if r["connections_opened"] != want_client:
                fail("%s against %s: opened %d connections in the timed part, expected %d" % (
                    c.name, srv.name, r["connections_opened"], want_client))
        if got is not None and r.get("server_token_requests") != n + warmup:
            fail("%s against %s: the server counted %s token requests, expected %d" % (
                c.name, srv.name, r.get("server_token_requests"), n + warmup))
    return r


def run_bench(title, cs, servers, rounds, n_by_server, baseline, check_conns):
    results = {}  # (server, contender) -> [result per round or None]
    for srv in servers:
        n = n_by_server[srv.name]
        warmup = max(n // 10, 3)
        log("%s, %s: %d rounds of %s, %d fetches each" % (title, srv.name, rounds, " ".join(c.name for c in cs), n))
        for r in range(rounds):
            order = cs[r % len(cs):] + cs[:r % len(cs)]
            for c in order:
                res = run_contender(c, srv, n, warmup, check_conns)
                results.setdefault((srv.name, c.name), [None] * rounds)[r] = res
                if res:
                    log("  round %d %-24s %8.0f tokens/s %7.1f us CPU/token" % (
                        r + 1, c.name, n / res["wall_s"], (res["user_s"] + res["sys_s"]) / n * 1e6))
    return summarize(title, cs, servers, results, rounds, n_by_server, baseline)


def med_spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a", None
    m = statistics.median(values)
    return ("%s (%s..%s)" % (fmt % m, fmt % min(values), fmt % max(values))), m


def summarize(title, cs, servers, results, rounds, n_by_server, baseline):
    out = {"title": title, "rows": []}
    lines = ["### " + title, "",
             "| server | client | tokens/s | CPU µs/token | tokens/s vs %s | CPU vs %s | server CPU µs/token | new conns / resumed (server) |"
             % (baseline, baseline),
             "|---|---|---|---|---|---|---|---|"]
    for srv in servers:
        n = n_by_server[srv.name]
        base = results.get((srv.name, baseline), [None] * rounds)
        for c in cs:
            rs = results.get((srv.name, c.name), [None] * rounds)
            tps = [n / x["wall_s"] if x else None for x in rs]
            cpu = [(x["user_s"] + x["sys_s"]) / n * 1e6 if x else None for x in rs]
            scpu = [x["server_cpu_s"] / n * 1e6 if x and x.get("server_cpu_s") is not None else None for x in rs]
            rt = [n / x["wall_s"] / (n / b["wall_s"]) if x and b else None for x, b in zip(rs, base)]
            rc = [((x["user_s"] + x["sys_s"]) / max(b["user_s"] + b["sys_s"], 1e-9)) if x and b else None
                  for x, b in zip(rs, base)]
            conns = [x.get("server_connections") for x in rs if x and "server_connections" in x]
            resumed = [x.get("server_resumed") for x in rs if x and "server_resumed" in x]
            tps_s, tps_m = med_spread(tps, "%.0f")
            cpu_s, cpu_m = med_spread(cpu, "%.1f")
            rt_s, rt_m = med_spread(rt, "%.2f")
            rc_s, rc_m = med_spread(rc, "%.2f")
            scpu_s, _ = med_spread(scpu, "%.0f")
            conn_s = ("%d / %d" % (statistics.median(conns), statistics.median(resumed))) if conns else "n/a"
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                srv.name, c.name, tps_s, cpu_s, "—" if c.name == baseline else rt_s,
                "—" if c.name == baseline else rc_s, scpu_s, conn_s))
            out["rows"].append({"server": srv.name, "client": c.name, "describe": c.describe,
                                "tokens_per_s": tps, "cpu_us_per_token": cpu, "ratio_tps_vs_baseline": rt,
                                "ratio_cpu_vs_baseline": rc, "median_tokens_per_s": tps_m, "median_cpu_us": cpu_m,
                                "median_ratio_tps": rt_m, "median_ratio_cpu": rc_m, "runs": rs})
    out["markdown"] = "\n".join(lines)
    return out


# --------------------------------------------------------------------------- benchmark 8

def user_token(oidc, username):
    """A caller's JWT from the test server's user-token grant (the subject to exchange)."""
    body = urllib.parse.urlencode({"grant_type": "urn:tetrapak:test:user-token", "username": username,
                                   "user_type": "User", "ttl": "3600"}).encode()
    req = urllib.request.Request(oidc.url, data=body, method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"user-issuer:user-issuer-secret").decode())
    with urllib.request.urlopen(req, context=oidc.tls, timeout=10) as r:
        return json.load(r)["access_token"]


def bench8(args, oidc, callers, nofile):
    """A burst of `callers` token exchanges for distinct audiences under RLIMIT_NOFILE `nofile`,
    without a connection bound and with the default one."""
    loop = os.path.join(args.build_dir, "bench", "compare", "tetrapak_burst_loop")
    subject = user_token(oidc, "burst-user")
    lines = ["### Benchmark 8: a burst of %d token exchanges for distinct audiences, one service, "
             "RLIMIT_NOFILE %d, against oidc-provider" % (callers, nofile), "",
             "| connections.max_per_endpoint | tokens | failures | last token after | connections opened "
             "(client) | most open at once (server) | waits for a connection |", "|---|---|---|---|---|---|---|"]
    rows = []
    for bound in (0, 32):
        def limit():
            die_with_parent()
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        urllib.request.urlopen(urllib.request.Request(oidc.issuer + "/test/reset", method="POST"),
                               context=oidc.tls, timeout=10).close()
        p = subprocess.run([loop, "--url", oidc.url, "--ca", oidc.ca, "--id", CLIENT_ID, "--secret", CLIENT_SECRET,
                            "--subject", subject, "--n", str(callers), "--bound", str(bound)],
                           capture_output=True, text=True, timeout=600, preexec_fn=limit, env=child_env(oidc.ca))
        most = oidc.stats()["max_open_connections"]
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            fail("burst_loop --bound %d: exit %d, %s %s" % (bound, p.returncode, p.stdout[-500:], p.stderr[-500:]))
            continue
        failed = sum(r["failures"].values())
        if bound and (failed or most > bound + 1):
            fail("burst with bound %d: %d failures, the server saw %d connections at once" % (bound, failed, most))
        lines.append("| %s | %d | %d%s | %.2f s | %d | %d | %d |" % (
            bound or "none", r["ok"], failed, (" (%s)" % "; ".join(r["failures"])) if failed else "",
            r["last_s"], r["connections_opened"], most, r["connection_waits"]))
        r["server_max_open"] = most
        rows.append(r)
    return {"title": "Benchmark 8: burst", "rows": rows, "markdown": "\n".join(lines)}


# --------------------------------------------------------------------------- benchmark 6

def wrk_run(url, seconds, connections):
    p = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency", url],
                       capture_output=True, text=True, timeout=seconds + 60)
    out = p.stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if p.returncode != 0 or not m:
        return None, "wrk exit %d: %s %s" % (p.returncode, out[-500:], p.stderr[-500:])
    if "Non-2xx" in out or "Socket errors" in out:
        return None, "wrk saw errors: " + " ".join(re.findall(r"(Non-2xx.*|Socket errors.*)", out))

    def lat(pct):
        mm = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        if not mm:
            return None
        return float(mm.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[mm.group(2)]
    reqs = re.search(r"(\d+) requests in", out)
    return {"rps": float(m.group(1)), "p50_us": lat(50), "p99_us": lat(99),
            "requests": int(reqs.group(1)) if reqs else None}, None


def bench6(args, work, certs, oidc):
    build = args.build_dir
    binary = os.path.join(build, "example", "beast_microservice")
    settings = os.path.join(work, "appsettings.json")
    with open(settings, "w") as f:
        json.dump({"TetraPak": {"DiscoveryDocumentUrl": oidc.issuer + "/.well-known/openid-configuration",
                                "ClientId": CLIENT_ID, "ClientSecret": CLIENT_SECRET,
                                "Services": {"Orders": {"GrantType": "ClientCredentials"}}}}, f)
    err = open(os.path.join(work, "microservice.err"), "w")
    proc = subprocess.Popen([binary, settings, certs, "0"], stdout=subprocess.PIPE, stderr=err,
                            env=child_env(oidc.ca), stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    line = proc.stdout.readline().decode()
    m = re.match(r"LISTENING (\d+) DOWNSTREAM (\d+)", line)
    if not m:
        proc.kill()
        fail("beast_microservice did not start: %r %s" % (line, open(err.name).read()[-1000:]))
        return None
    front = "https://127.0.0.1:%s" % m.group(1)
    tls = ssl.create_default_context(cafile=oidc.ca)

    def get(path):
        with urllib.request.urlopen(front + path, context=tls, timeout=10) as r:
            return r.status, json.load(r)

    routes = [("authorized", "/orders"), ("no token", "/orders-noauth")]
    results = {name: [None] * args.rounds for name, _ in routes}
    try:
        for name, path in routes:  # each route answers, with the grant it should
            status, body = get(path)
            want = "client_credentials" if path == "/orders" else "none"
            if status != 200 or body.get("grant") != want or body.get("downstream_status") != 200:
                fail("beast_microservice GET %s: %s %s (expected 200, grant %s, downstream 200)" % (path, status, body, want))
                return None
        for name, path in routes:  # warm-up: connections to the downstream, the cached token
            wrk_run(front + path, 1, args.wrk_connections)
        log("benchmark 6: %d rounds of wrk -t1 -c%d -d%ds on /orders and /orders-noauth" % (
            args.rounds, args.wrk_connections, args.wrk_seconds))
        _, st0 = get("/stats")
        for r in range(args.rounds):
            order = routes if r % 2 == 0 else routes[::-1]
            for name, path in order:
                cpu0 = proc_cpu_s(proc.pid)
                res, why = wrk_run(front + path, args.wrk_seconds, args.wrk_connections)
                cpu1 = proc_cpu_s(proc.pid)
                if res is None:
                    fail("wrk on %s: %s" % (path, why))
                    continue
                res["service_cpu_us_per_request"] = (cpu1 - cpu0) / res["requests"] * 1e6 if res["requests"] else None
                results[name][r] = res
                log("  round %d %-10s %8.0f requests/s p50 %s us" % (r + 1, name, res["rps"], res["p50_us"]))
        _, st1 = get("/stats")
        fetches = st1["fetch"] - st0["fetch"]
        hits = st1["cache_hit"] - st0["cache_hit"]
    finally:
        try:
            req = urllib.request.Request(front + "/quit", method="POST")
            urllib.request.urlopen(req, context=tls, timeout=5).close()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - it is stopped either way
            proc.kill()
            proc.wait()
    if hits == 0:
        fail("benchmark 6: no cache hit during the /orders runs")

    lines = ["### Benchmark 6: example/beast_microservice under wrk (-t1 -c%d, %d s per run)" % (
        args.wrk_connections, args.wrk_seconds), "",
        "| route | requests/s | p50 µs | p99 µs | service CPU µs/request | requests/s vs no token |",
        "|---|---|---|---|---|---|"]
    out = {"title": "benchmark 6", "rows": [], "token_fetches_during_runs": fetches, "cache_hits": hits}
    base = results["no token"]
    for name, path in routes:
        rs = results[name]
        rps_s, rps_m = med_spread([x["rps"] if x else None for x in rs], "%.0f")
        p50_s, _ = med_spread([x["p50_us"] if x else None for x in rs], "%.0f")
        p99_s, _ = med_spread([x["p99_us"] if x else None for x in rs], "%.0f")
        cpu_s, _ = med_spread([x["service_cpu_us_per_request"] if x else None for x in rs], "%.1f")
        ratio = [x["rps"] / b["rps"] if x and b else None for x, b in zip(rs, base)]
        ratio_s, ratio_m = med_spread(ratio, "%.3f")
        lines.append("| %s `%s` | %s | %s | %s | %s | %s |" % (
            name, path, rps_s, p50_s, p99_s, cpu_s, "—" if name == "no token" else ratio_s))
        out["rows"].append({"route": path, "runs": rs, "median_rps": rps_m, "ratio_vs_noauth": ratio,
                            "median_ratio": ratio_m})
    lines += ["", "Token requests during the timed runs: %d (cache hits: %d)." % (fetches, hits)]
    out["markdown"] = "\n".join(lines)
    return out


# --------------------------------------------------------------------------- main

def versions(build):
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    def pkg(path):
        try:
            return json.load(open(path))["version"]
        except (OSError, ValueError, KeyError):
            return "?"
    model = "?"
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": "%s, %d CPUs" % (model, os.cpu_count()),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "nginx": first_line(["nginx", "-v"]),
        "node": first_line(["node", "--version"]),
        "openid-client": pkg(os.path.join(HERE, "node_modules/openid-client/package.json")),
        "oidc-provider": pkg(os.path.join(SOURCE, "test/server/node_modules/oidc-provider/package.json")),
        "python": first_line([PYTHON, "--version"]),
        "requests": first_line([PYTHON, "-c", "import requests; print(requests.__version__)"]),
        "libcurl": first_line(["sh", "-c", "curl-config --version 2>/dev/null || echo ?"]),
        "wrk": first_line(["sh", "-c", "wrk -v 2>&1 | head -1"]),
    }


def preflight(args):
    missing = []
    needed = ["bench/compare/tetrapak_compare_loop", "bench/compare/curl_compare_loop"]
    if "6" in args.only.split(","):
        needed.append("example/beast_microservice")
    for f in needed:
        if not os.access(os.path.join(args.build_dir, f), os.X_OK):
            missing.append("%s/%s (build it)" % (args.build_dir, f))
    for tool in ("node", "nginx", "wrk"):
        if not shutil.which(tool) and not (tool == "nginx" and os.access("/usr/sbin/nginx", os.X_OK)):
            missing.append(tool)
    if not os.path.isdir(os.path.join(HERE, "node_modules/openid-client")):
        missing.append("bench/compare/node_modules (npm ci --prefix bench/compare)")
    if not os.path.isdir(os.path.join(SOURCE, "test/server/node_modules/oidc-provider")):
        missing.append("test/server/node_modules (npm ci --prefix test/server)")
    if subprocess.run([PYTHON, "-c", "import requests"], capture_output=True).returncode != 0:
        missing.append("python3-requests for " + PYTHON)
    if missing:
        log("compare.py: missing: " + "; ".join(missing) + "\n(scripts/install-deps.sh installs them)")
        sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="CMake build dir with the loops and the examples")
    ap.add_argument("--smoke", action="store_true", help="seconds, not minutes: checks, not figures")
    ap.add_argument("--only", default="1,2,6,7,8", help="which benchmarks (1, 2, 6, 7, 8)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--n-keepalive", type=int, help="timed fetches per run, benchmark 1, against oidc-provider")
    ap.add_argument("--n-fresh", type=int, help="timed fetches per run, benchmark 2, against oidc-provider")
    ap.add_argument("--nginx-scale", type=int, help="nginx answers faster: runs against it make this many times more fetches")
    ap.add_argument("--wrk-seconds", type=int)
    ap.add_argument("--wrk-connections", type=int, default=8)
    ap.add_argument("--out", help="write results.json and results.md here")
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    defaults = dict(rounds=1, n_keepalive=30, n_fresh=15, wrk_seconds=1, nginx_scale=1) if args.smoke else \
        dict(rounds=7, n_keepalive=2000, n_fresh=500, wrk_seconds=5, nginx_scale=4)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    only = set(args.only.split(","))
    preflight(args)
    # SIGTERM (ctest's timeout, say) stops the servers on the way out, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.time()
    info = versions(args.build_dir)
    work = tempfile.mkdtemp(prefix="tetrapak-compare-")
    certs = os.path.join(work, "certs")
    subprocess.run(["bash", os.path.join(SOURCE, "test/server/gen-certs.sh"), certs], check=True)
    servers = []
    report = {"machine": info, "args": vars(args), "benchmarks": []}
    try:
        oidc = OidcServer(work, certs)
        servers.append(oidc)
        nginx = NginxServer(work, certs)
        servers.append(nginx)
        keep, fresh = contenders(args.build_dir)
        warm_c = keep[1]  # curl-reuse: wakes the servers up (Node's JIT) before anything is timed
        for srv in servers:
            run_contender(warm_c, srv, 300 if args.smoke else 3000, 10, False)
        if "1" in only:
            n = {"oidc": args.n_keepalive, "nginx": args.n_keepalive * args.nginx_scale}
            report["benchmarks"].append(run_bench(
                "Benchmark 1: sequential client-credentials fetches, keep-alive (%d fetches per run against oidc, "
                "%d against nginx, %d rounds)" % (n["oidc"], n["nginx"], args.rounds),
                keep, servers, args.rounds, n, "curl-reuse", True))
        if "2" in only:
            n = {"oidc": args.n_fresh, "nginx": args.n_fresh * max(args.nginx_scale // 2, 1)}
            report["benchmarks"].append(run_bench(
                "Benchmark 2: sequential fetches, a new connection each (%d fetches per run against oidc, "
                "%d against nginx, %d rounds)" % (n["oidc"], n["nginx"], args.rounds),
                fresh, servers, args.rounds, n, "curl-fresh-share", True))
        if "7" in only:
            proxy = TinyProxy(work)
            pkeep, pfresh = proxy_contenders(args.build_dir, proxy)
            n = {"oidc": args.n_keepalive, "nginx": args.n_keepalive * args.nginx_scale}
            report["benchmarks"].append(run_bench(
                "Benchmark 7a: proxy overhead, keep-alive (%d fetches per run against oidc, %d against nginx, "
                "%d rounds)" % (n["oidc"], n["nginx"], args.rounds), pkeep, servers, args.rounds, n, "tetrapak", True))
            n = {"oidc": args.n_fresh, "nginx": args.n_fresh * max(args.nginx_scale // 2, 1)}
            report["benchmarks"].append(run_bench(
                "Benchmark 7b: proxy overhead, a new connection each (%d fetches per run against oidc, %d against "
                "nginx, %d rounds)" % (n["oidc"], n["nginx"], args.rounds), pfresh, servers, args.rounds, n,
                "tetrapak-fresh", True))
            proxy.stop()
        if "8" in only:
            report["benchmarks"].append(bench8(args, oidc, 300 if args.smoke else 3000, 1024))
        if "6" in only:
            b6 = bench6(args, work, certs, oidc)
            if b6:
                report["benchmarks"].append(b6)
    except Exception as e:  # noqa: BLE001 - reported, then the servers are stopped
        fail("%s: %s" % (type(e).__name__, e))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    info["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    info["elapsed_s"] = round(time.time() - started, 1)

    md = ["## Side-by-side run of %s" % info["date"], "",
          "Machine: %s; load average at start %s, at end %s. Elapsed: %.0f s." % (
              info["cpu"], " ".join(info["loadavg_at_start"]), " ".join(info["loadavg_at_end"]), info["elapsed_s"]),
          "Versions: libcurl %s, %s, Node %s, openid-client %s, oidc-provider %s, %s, requests %s, %s." % (
              info["libcurl"], info["nginx"], info["node"], info["openid-client"], info["oidc-provider"],
              info["python"], info["requests"], info["wrk"]),
          "Cells: median over rounds (min..max). Ratios are taken round by round against the baseline's run "
          "of the same round.", ""]
    for b in report["benchmarks"]:
        md += [b["markdown"], ""]
    text = "\n".join(md)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(report, f, indent=1)
        with open(os.path.join(args.out, "results.md"), "w") as f:
            f.write(text + "\n")
    if failures:
        log("compare.py: %d check(s) failed:\n  - %s" % (len(failures), "\n  - ".join(failures)))
        return 1
    log("compare.py: %s passed in %.0f s" % ("smoke run" if args.smoke else "run", info["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
