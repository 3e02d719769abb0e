// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "proxy_server.hpp"

#include <boost/url/url.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

constexpr const char* ready_line = "Starting main loop. Accepting connections.";
constexpr const char* request_line = "]: Request (file descriptor ";
constexpr const char* tunnel_line = "]: Not sending client headers to remote machine";

/// tinyproxy's BasicAuth grammar: ([-a-z0-9._]+), matched case-insensitively.
bool basicauth_token(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '_';
    });
}

/// The tinyproxy executable, resolved before fork (the child only calls execve).
std::string find_tinyproxy()
{
    std::string dirs = "/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin";
    if (const char* path = std::getenv("PATH"))
        dirs = std::string(path) + ":" + dirs;
    std::istringstream in(dirs);
    for (std::string dir; std::getline(in, dir, ':');) {
        std::string candidate = (dir.empty() ? "." : dir) + "/tinyproxy";
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    throw std::runtime_error("tinyproxy is not installed: run scripts/install-deps.sh (apt-get install tinyproxy-bin)");
}

/// A port that was free on 127.0.0.1 a moment ago (tinyproxy cannot listen on port 0).
unsigned short free_loopback_port()
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    int err = errno;
    close(fd);
    if (!ok)
        throw std::runtime_error(std::string("cannot pick a loopback port: ") + std::strerror(err));
    return ntohs(a.sin_port);
}

bool accepts_connections(unsigned short port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

/// tinyproxy fsyncs every log line: keep its files on tmpfs when there is one.
std::string make_temp_dir()
{
    std::error_code ec;
    std::string base = std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : std::filesystem::temp_directory_path().string();
    std::string tmpl = base + "/tetrapak-proxy-XXXXXX";
    if (!mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed in " + base + ": " + std::strerror(errno));
    return tmpl;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// fork + execve with the child bound to this thread's life (PR_SET_PDEATHSIG),
/// stdin from /dev/null, stdout and stderr to `output`, and no other inherited fd.
pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& output)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out_fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (null_fd < 0 || out_fd < 0)
        throw std::runtime_error("cannot open the proxy's stdio files in " + output);
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    long max_fd = sysconf(_SC_OPEN_MAX);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        // Only async-signal-safe calls from here on: the test process has threads.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) // the parent died before prctl
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
            _exit(127);
        // Sockets of the test process (Asio does not set CLOEXEC) must not stay open in the proxy.
        if (close_range(3, ~0U, 0) != 0)
            for (long fd = 3; fd < max_fd; ++fd)
                close(static_cast<int>(fd));
        execve(exe.c_str(), argv.data(), environ);
        _exit(127);
    }
    int err = errno;
    close(null_fd);
    close(out_fd);
    if (pid < 0)
        throw std::runtime_error(std::string("fork failed: ") + std::strerror(err));
    return pid;
}

} // namespace

proxy_server::proxy_server(proxy_options opts) : opts_(std::move(opts))
{
    if (opts_.username.empty() != opts_.password.empty())
        throw std::invalid_argument("proxy_options: set both username and password, or neither");
    if (!opts_.username.empty() && !(basicauth_token(opts_.username) && basicauth_token(opts_.password)))
        throw std::invalid_argument("proxy_options: tinyproxy BasicAuth only takes [-A-Za-z0-9._] in user and password");
    dir_ = make_temp_dir();
    // A port taken between picking and binding makes tinyproxy exit: try another.
    std::string failure;
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (start(failure))
            return;
        std::fprintf(stderr, "test harness: %s; starting tinyproxy again\n", failure.c_str());
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw std::runtime_error(failure);
}

proxy_server::~proxy_server()
{
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void proxy_server::write_config() const
{
    std::ofstream conf(dir_ + "/tinyproxy.conf", std::ios::trunc);
    conf << "Port " << port_ << "\n"
         << "Listen 127.0.0.1\n"
         // deny_all: only TEST-NET-1 may use the proxy, so 127.0.0.1 gets 403.
         << "Allow " << (opts_.deny_all ? "192.0.2.1" : "127.0.0.1") << "\n"
         << "Timeout 120\n"
         << "MaxClients 256\n"
         << "LogFile \"" << dir_ << "/tinyproxy.log\"\n"
         << "LogLevel Info\n"
         << "PidFile \"" << dir_ << "/tinyproxy.pid\"\n"
         << "Syslog Off\n"
         << "DisableViaHeader Yes\n";
    if (!opts_.username.empty())
        conf << "BasicAuth " << opts_.username << " " << opts_.password << "\n";
    for (unsigned short p : opts_.allow_connect_ports)
        conf << "ConnectPort " << p << "\n";
    if (!conf.flush())
        throw std::runtime_error("cannot write " + dir_ + "/tinyproxy.conf");
}

bool proxy_server::start(std::string& failure)
{
    port_ = free_loopback_port();
    write_config();
    std::filesystem::remove(dir_ + "/tinyproxy.log");
    pid_ = spawn(find_tinyproxy(), {"tinyproxy", "-d", "-c", dir_ + "/tinyproxy.conf"}, dir_ + "/stderr.txt");
    if (wait_ready(failure))
        return true;
    stop();
    return false;
}

/// Ready once the log says the main loop runs (it is written after listen()),
/// and a TCP connection to the port succeeds; an early exit fails at once.
bool proxy_server::wait_ready(std::string& failure)
{
    auto deadline = std::chrono::steady_clock::now() + 5s;
    bool logged = false;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            failure = "tinyproxy on port " + std::to_string(port_) + " exited (status " + std::to_string(status) +
                      "): " + read_file(dir_ + "/stderr.txt");
            return false;
        }
        logged = logged || log().find(ready_line) != std::string::npos;
        if (logged && accepts_connections(port_))
            return true;
        std::this_thread::sleep_for(5ms);
    }
    failure = "tinyproxy on port " + std::to_string(port_) + " not ready within 5 s; stderr: " +
              read_file(dir_ + "/stderr.txt") + "; log: " + log();
    return false;
}

void proxy_server::stop()
{
    if (pid_ <= 0)
        return;
    kill(pid_, SIGTERM);
    int status = 0;
    // tinyproxy gives its threads < 100 ms on SIGTERM; never wait forever: SIGKILL after 1 s
    for (int i = 0; i < 200 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(5ms);
    if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
    }
    pid_ = -1;
}

std::string proxy_server::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string proxy_server::url_with_credentials() const
{
    boost::urls::url u;
    u.set_scheme("http");
    if (!opts_.username.empty()) {
        u.set_user(opts_.username);
        u.set_password(opts_.password);
    }
    u.set_encoded_host("127.0.0.1");
    u.set_port_number(port_);
    return std::string(u.buffer());
}

std::string proxy_server::log() const { return read_file(dir_ + "/tinyproxy.log"); }

long proxy_server::count_lines(const char* needle) const
{
    std::ifstream in(dir_ + "/tinyproxy.log");
    long n = 0;
    for (std::string line; std::getline(in, line);)
        n += line.find(needle) != std::string::npos;
    return n;
}

long proxy_server::connect_count() const { return count_lines(tunnel_line); }

long proxy_server::request_count() const { return count_lines(request_line); }

} // namespace tetrapak::test
