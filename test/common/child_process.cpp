// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "child_process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

extern char** environ;

namespace tetrapak::test {

std::string find_executable(const char* name, const char* package)
{
    std::string dirs = "/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin";
    if (const char* path = std::getenv("PATH"))
        dirs = std::string(path) + ":" + dirs;
    std::istringstream in(dirs);
    for (std::string dir; std::getline(in, dir, ':');) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    throw std::runtime_error(std::string(name) + " is not installed: run scripts/install-deps.sh (apt-get install " +
                             package + ")");
}

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

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& output)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out_fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (null_fd < 0 || out_fd < 0)
        throw std::runtime_error("cannot open the stdio files of " + exe + " in " + output);
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
        // Sockets of the test process (Asio does not set CLOEXEC) must not stay open in the child.
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

} // namespace tetrapak::test
