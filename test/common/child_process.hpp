// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_TEST_CHILD_PROCESS_HPP
#define TETRAPAK_TEST_CHILD_PROCESS_HPP

// What the harnesses that start a real server process share (tinyproxy,
// redis-server, openssl): finding the executable, a free loopback port, and
// fork/execve with the child bound to the test's life.

#include <string>
#include <vector>

#include <sys/types.h>

namespace tetrapak::test {

/// The executable `name` from PATH (and the sbin directories), resolved
/// before fork. Throws std::runtime_error naming the Debian `package` to install.
std::string find_executable(const char* name, const char* package);

/// A port that was free on 127.0.0.1 a moment ago (for servers that cannot
/// report the port 0 they bound).
unsigned short free_loopback_port();

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool accepts_connections(unsigned short port);

/// The whole content of a file ("" when it cannot be read).
std::string read_file(const std::string& path);

/// fork + execve of `exe` with `args` (args[0] included): the child dies with
/// the thread that forked it (PR_SET_PDEATHSIG, SIGKILL: create harness
/// objects on a thread that outlives them), stdin is /dev/null, stdout and
/// stderr go to the file `output`, and no other descriptor is inherited.
pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& output);

} // namespace tetrapak::test

#endif
