// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "proxy_server.hpp"

#include "child_process.hpp"

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
    pid_ = spawn(find_executable("tinyproxy", "tinyproxy-bin"), {"tinyproxy", "-d", "-c", dir_ + "/tinyproxy.conf"}, dir_ + "/stderr.txt");
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
