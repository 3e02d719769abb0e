// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_REDIS_SERVER_HPP
#define TETRAPAK_TEST_REDIS_SERVER_HPP

// Starts a real Redis (redis-server 7.0, Debian package redis-server) on
// 127.0.0.1 with its own configuration, log and data directory in a private
// temp directory, on a random free port. The system's redis-server service (if
// any) is not used. Persistence is off (save "", appendonly no): every start,
// including restart(), begins with an empty data set.
//
// TLS: Debian's redis-server 7.0 is built with TLS. With tls = true the server
// listens on tls_port() with a certificate for IP 127.0.0.1 signed by a CA made
// with the openssl CLI at construction (ca_file()); clients are not asked for
// a certificate. The plain port() stays open as well, because the synchronous
// helpers below use hiredis 0.14, which has no TLS.
//
// The helpers (keys, get, set, ...) open a new hiredis connection per call to
// the plain port, authenticate as the ACL user if there is one (else with the
// password), and throw std::runtime_error on any failure. They wait at most 2 s,
// so on a paused server they throw instead of hanging. Their own commands count
// in command_count() (reset_stats() first when that matters).
//
// The child is started with fork/execve and PR_SET_PDEATHSIG(SIGKILL), so it
// dies with the test process. Linux delivers that signal when the *thread*
// that forked exits: create redis_server objects (and call restart()) on a
// thread that outlives them (the test's main thread, as usual).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tetrapak::test {

struct redis_options {
    /// requirepass: the password of Redis's `default` user.
    std::string password{};
    /// Both non-empty: an ACL user with every right (`on >pw ~* &* +@all`). When
    /// `password` is empty the `default` user is switched off, so every client
    /// must AUTH as this user; otherwise `default` keeps its requirepass.
    /// The user name may not contain whitespace or be `default`.
    std::string acl_user{}, acl_password{};
    /// Also listen with TLS on tls_port() (see above).
    bool tls = false;
};

class redis_server {
public:
    explicit redis_server(redis_options opts = {});
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    /// The plain TCP port (open with tls too). Kept across kill() and restart().
    unsigned short port() const noexcept { return port_; }
    /// The TLS port; 0 without tls.
    unsigned short tls_port() const noexcept { return tls_port_; }
    /// redis://127.0.0.1:PORT, with `:password@` or `user:password@` (percent-encoded)
    /// when the server needs them; rediss://127.0.0.1:TLS_PORT when tls.
    std::string url() const;
    std::string url_without_credentials() const;
    /// The PEM CA certificate that signed the server's; throws std::logic_error without tls.
    std::string ca_file() const;

    /// SIGKILL, and wait for the process. port() stays; the log stays readable.
    void kill();
    /// SIGSTOP / SIGCONT: the port accepts TCP connections but nothing answers.
    void pause();
    void resume();
    /// Start again on the same ports (after kill(); kills first if still running),
    /// with empty data. Throws std::runtime_error if the port was taken meanwhile.
    void restart();
    /// The process exists and has not exited (true while paused).
    bool running() const;

    /// Key names matching a glob pattern, via SCAN; sorted, no duplicates.
    std::vector<std::string> keys(std::string_view pattern = "*") const;
    /// GET (binary-safe); nullopt when the key does not exist.
    std::optional<std::string> get(std::string_view key) const;
    /// SET (binary-safe), with PX when ttl > 0.
    void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl = {}) const;
    /// PTTL: milliseconds left, -1 without expiry, -2 when the key does not exist.
    long long pttl(std::string_view key) const;
    /// `calls` of a command in INFO commandstats (case-insensitive name, e.g. "get",
    /// "publish", "config|resetstat"); 0 when not called since the start or reset_stats().
    long long command_count(std::string_view command) const;
    /// CONFIG RESETSTAT: command counts back to zero.
    void reset_stats() const;
    void flushall() const;
    /// The whole Redis log of every start of this object (for diagnostics).
    std::string log() const;

private:
    bool start(std::string& failure);
    void write_config() const;
    void make_certificates() const;
    bool wait_ready(std::string& failure);
    std::string redact(std::string text) const;
    std::string failure_report(const std::string& what) const;
    std::string make_url(bool with_credentials) const;

    redis_options opts_;
    std::string dir_;
    int pid_ = -1;
    unsigned short port_ = 0, tls_port_ = 0;
};

} // namespace tetrapak::test

#endif
