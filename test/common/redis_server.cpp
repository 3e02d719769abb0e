// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "redis_server.hpp"

#include "child_process.hpp"

#include <boost/url/url.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tetrapak::test {
namespace {

using namespace std::chrono_literals;

/// A redis.conf argument: double-quoted with the escapes Redis's parser
/// (sdssplitargs) undoes, so passwords and paths may hold any byte.
std::string quote(std::string_view s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out + "\"";
}

struct reply_deleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
struct context_deleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

reply_ptr command(redisContext& c, const std::vector<std::string_view>& argv)
{
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (auto a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    reply_ptr r(static_cast<redisReply*>(
        redisCommandArgv(&c, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
    if (!r)
        throw std::runtime_error("redis " + std::string(argv.front()) + ": " + c.errstr);
    if (r->type == REDIS_REPLY_ERROR)
        throw std::runtime_error("redis " + std::string(argv.front()) + " answered " + std::string(r->str, r->len));
    return r;
}

/// One command on a new connection to the plain port, authenticated as the
/// server requires; throws on I/O errors, timeouts and error replies.
reply_ptr run(const redis_options& opts, unsigned short port, const std::vector<std::string_view>& argv,
              std::chrono::milliseconds timeout = 2s)
{
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    context_ptr c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!c)
        throw std::runtime_error("hiredis: out of memory");
    if (c->err)
        throw std::runtime_error("cannot connect to redis on port " + std::to_string(port) + ": " + c->errstr);
    // The connect timeout does not bound reads in every hiredis version.
    redisSetTimeout(c.get(), tv);
    if (!opts.acl_user.empty())
        command(*c, {"AUTH", opts.acl_user, opts.acl_password});
    else if (!opts.password.empty())
        command(*c, {"AUTH", opts.password});
    return command(*c, argv);
}

} // namespace

redis_server::redis_server(redis_options opts) : opts_(std::move(opts))
{
    if (opts_.acl_user.empty() != opts_.acl_password.empty())
        throw std::invalid_argument("redis_options: set both acl_user and acl_password, or neither");
    if (opts_.acl_user == "default" ||
        std::any_of(opts_.acl_user.begin(), opts_.acl_user.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; }))
        throw std::invalid_argument("redis_options: acl_user may not be `default` or contain whitespace");
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/tetrapak-redis-XXXXXX";
    if (!mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed for " + tmpl + ": " + std::strerror(errno));
    dir_ = tmpl;
    std::string failure;
    try {
        if (opts_.tls)
            make_certificates();
        // A port taken between picking and binding makes redis-server exit: try
        // others then, but fail at once on any other error (a bad config stays bad).
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_loopback_port();
            do {
                tls_port_ = opts_.tls ? free_loopback_port() : 0;
            } while (tls_port_ == port_);
            if (start(failure))
                return;
            if (failure.find("Address already in use") == std::string::npos)
                break;
            std::fprintf(stderr, "test harness: %s; starting redis-server again\n", failure.c_str());
        }
        throw std::runtime_error(failure);
    } catch (...) {
        kill(); // the destructor does not run when the constructor throws
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
    }
}

redis_server::~redis_server()
{
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

/// A CA and a server certificate for IP 127.0.0.1 (P-256 keys: quick to make),
/// from a config file of our own so the system's openssl.cnf adds nothing.
void redis_server::make_certificates() const
{
    {
        std::ofstream cnf(dir_ + "/openssl.cnf", std::ios::trunc);
        cnf << "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = tetrapak test\n"
            << "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
            << "subjectKeyIdentifier = hash\n"
            << "[server_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
            << "extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\nauthorityKeyIdentifier = keyid\n";
        if (!cnf.flush())
            throw std::runtime_error("cannot write " + dir_ + "/openssl.cnf");
    }
    const std::string openssl = find_executable("openssl", "openssl"), d = dir_ + "/", cnf = d + "openssl.cnf";
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    auto run_openssl = [&](std::vector<std::string> args, const std::vector<std::string>& key = {}) {
        args.insert(args.begin() + 2, key.begin(), key.end());
        pid_t pid = spawn(openssl, args, d + "openssl.txt");
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("openssl " + args[1] + " failed: " + read_file(d + "openssl.txt"));
    };
    run_openssl({"openssl", "req", "-x509", "-config", cnf, "-extensions", "ca_ext", "-keyout", d + "ca.key", "-out",
                 d + "ca.crt", "-days", "2", "-subj", "/CN=tetrapak test redis CA"},
                ec_key);
    run_openssl({"openssl", "req", "-new", "-config", cnf, "-keyout", d + "server.key", "-out", d + "server.csr",
                 "-subj", "/CN=127.0.0.1"},
                ec_key);
    run_openssl({"openssl", "x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.crt", "-CAkey", d + "ca.key",
                 "-set_serial", "2", "-days", "2", "-extfile", cnf, "-extensions", "server_ext", "-out",
                 d + "server.crt"});
}

void redis_server::write_config() const
{
    std::ofstream conf(dir_ + "/redis.conf", std::ios::trunc);
    conf << "bind 127.0.0.1\n"
         << "port " << port_ << "\n"
         << "daemonize no\n"
         << "save \"\"\n"
         << "appendonly no\n"
         << "dir " << quote(dir_) << "\n"
         << "logfile " << quote(dir_ + "/redis.log") << "\n"
         << "always-show-logo no\n";
    if (!opts_.password.empty())
        conf << "requirepass " << quote(opts_.password) << "\n";
    if (!opts_.acl_user.empty()) {
        conf << "user " << quote(opts_.acl_user) << " on " << quote(">" + opts_.acl_password) << " ~* &* +@all\n";
        if (opts_.password.empty()) // else an unauthenticated client would be `default` with every right
            conf << "user default off\n";
    }
    if (opts_.tls)
        conf << "tls-port " << tls_port_ << "\n"
             << "tls-cert-file " << quote(dir_ + "/server.crt") << "\n"
             << "tls-key-file " << quote(dir_ + "/server.key") << "\n"
             << "tls-ca-cert-file " << quote(dir_ + "/ca.crt") << "\n" // required by Redis even when unused
             << "tls-auth-clients no\n";
    if (!conf.flush())
        throw std::runtime_error("cannot write " + dir_ + "/redis.conf");
}

bool redis_server::start(std::string& failure)
{
    write_config();
    std::error_code ec;
    std::filesystem::remove(dir_ + "/dump.rdb", ec); // never load data: restart() starts empty
    pid_ = spawn(find_executable("redis-server", "redis-server"), {"redis-server", dir_ + "/redis.conf"},
                 dir_ + "/stderr.txt");
    if (wait_ready(failure))
        return true;
    kill();
    return false;
}

/// Ready once an authenticated PING over the plain port answers PONG (Redis
/// opens every listener, TLS included, before it serves its first command);
/// an early exit fails at once.
bool redis_server::wait_ready(std::string& failure)
{
    auto deadline = std::chrono::steady_clock::now() + 5s;
    std::string last_error;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            failure = failure_report("exited (status " + std::to_string(status) + ")");
            return false;
        }
        try {
            auto r = run(opts_, port_, {"PING"}, 500ms);
            if (r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "PONG")
                return true;
        } catch (const std::exception& e) {
            last_error = e.what();
        }
        std::this_thread::sleep_for(10ms);
    }
    failure = failure_report("not ready within 5 s (" + last_error + ")");
    return false;
}

/// Never let a password reach test output: Redis echoes a bad config line
/// (as written by quote()) on stderr.
std::string redis_server::redact(std::string text) const
{
    for (const std::string* secret : {&opts_.password, &opts_.acl_password}) {
        std::string quoted = quote(*secret);
        for (std::string_view s : {std::string_view(*secret), std::string_view(quoted).substr(1, quoted.size() - 2)})
            for (auto at = s.empty() ? std::string::npos : text.find(s); at != std::string::npos; at = text.find(s, at + 3))
                text.replace(at, s.size(), "***");
    }
    return text;
}

std::string redis_server::failure_report(const std::string& what) const
{
    std::string log_text = log();
    std::size_t from = log_text.size() > 2000 ? log_text.size() - 2000 : 0;
    return "redis-server on port " + std::to_string(port_) + " " + what +
           "; stderr: " + redact(read_file(dir_ + "/stderr.txt")) + "; log tail: " + log_text.substr(from);
}

void redis_server::kill()
{
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL); // also ends a stopped (paused) process
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

void redis_server::pause()
{
    if (pid_ > 0)
        ::kill(pid_, SIGSTOP);
}

void redis_server::resume()
{
    if (pid_ > 0)
        ::kill(pid_, SIGCONT);
}

void redis_server::restart()
{
    kill();
    std::string failure;
    if (!start(failure))
        throw std::runtime_error(failure);
}

bool redis_server::running() const
{
    if (pid_ <= 0)
        return false;
    // WNOWAIT: look without reaping, so kill() still owns the zombie.
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

std::string redis_server::make_url(bool with_credentials) const
{
    boost::urls::url u;
    u.set_scheme(opts_.tls ? "rediss" : "redis");
    if (with_credentials && !opts_.acl_user.empty()) {
        u.set_user(opts_.acl_user);
        u.set_password(opts_.acl_password);
    } else if (with_credentials && !opts_.password.empty()) {
        u.set_password(opts_.password);
    }
    u.set_encoded_host("127.0.0.1");
    u.set_port_number(opts_.tls ? tls_port_ : port_);
    return std::string(u.buffer());
}

std::string redis_server::url() const { return make_url(true); }

std::string redis_server::url_without_credentials() const { return make_url(false); }

std::string redis_server::ca_file() const
{
    if (!opts_.tls)
        throw std::logic_error("redis_server::ca_file: this server was started without tls");
    return dir_ + "/ca.crt";
}

std::vector<std::string> redis_server::keys(std::string_view pattern) const
{
    std::vector<std::string> out;
    std::string cursor = "0";
    do {
        auto r = run(opts_, port_, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_ARRAY)
            throw std::runtime_error("redis SCAN: unexpected reply shape");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        for (std::size_t i = 0; i < r->element[1]->elements; ++i)
            out.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    } while (cursor != "0");
    // SCAN may return a key more than once.
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::optional<std::string> redis_server::get(std::string_view key) const
{
    auto r = run(opts_, port_, {"GET", key});
    if (r->type == REDIS_REPLY_NIL)
        return std::nullopt;
    return std::string(r->str, r->len);
}

void redis_server::set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) const
{
    std::string px = std::to_string(ttl.count());
    run(opts_, port_, ttl.count() > 0 ? std::vector<std::string_view>{"SET", key, value, "PX", px}
                                      : std::vector<std::string_view>{"SET", key, value});
}

long long redis_server::pttl(std::string_view key) const { return run(opts_, port_, {"PTTL", key})->integer; }

long long redis_server::command_count(std::string_view command) const
{
    auto r = run(opts_, port_, {"INFO", "commandstats"});
    std::string needle = "cmdstat_";
    for (unsigned char c : command)
        needle += static_cast<char>(std::tolower(c));
    needle += ":calls=";
    std::string_view info(r->str, r->len);
    // Each line: cmdstat_get:calls=3,usec=...; the name must start a line.
    for (auto at = info.find(needle); at != std::string_view::npos; at = info.find(needle, at + 1))
        if (at == 0 || info[at - 1] == '\n')
            return std::atoll(std::string(info.substr(at + needle.size(), 20)).c_str());
    return 0;
}

void redis_server::reset_stats() const { run(opts_, port_, {"CONFIG", "RESETSTAT"}); }

void redis_server::flushall() const { run(opts_, port_, {"FLUSHALL"}); }

std::string redis_server::log() const { return redact(read_file(dir_ + "/redis.log")); }

} // namespace tetrapak::test
