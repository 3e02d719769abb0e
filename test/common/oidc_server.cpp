// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "oidc_server.hpp"

#include <tetrapak/protocol.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#ifndef TETRAPAK_SOURCE_DIR
#error "TETRAPAK_SOURCE_DIR must point at the source tree"
#endif

namespace tetrapak::test {
namespace {

std::string server_dir() { return std::string(TETRAPAK_SOURCE_DIR) + "/test/server"; }

struct cert_dir_holder {
    std::string path;
    cert_dir_holder()
    {
        char tmpl[] = "/tmp/tetrapak-certs-XXXXXX";
        if (!mkdtemp(tmpl))
            throw std::runtime_error("mkdtemp failed");
        path = tmpl;
        std::string cmd = "bash '" + server_dir() + "/gen-certs.sh' '" + path + "'";
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("gen-certs.sh failed: " + cmd);
    }
    ~cert_dir_holder()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

} // namespace

const std::string& cert_dir()
{
    static cert_dir_holder holder;
    return holder.path;
}

std::string oidc_server::ca_file() { return cert_dir() + "/ca.pem"; }

bool oidc_server::start(const server_options& opts, std::string& failure)
{
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    std::string script = server_dir() + "/server.mjs";
    std::string ttl = std::to_string(opts.ttl);
    const std::string& certs = cert_dir();
    std::vector<const char*> argv{"node",  script.c_str(), "--certs", certs.c_str(),     "--port", "0",
                                  "--ttl", ttl.c_str(),    "--cert",  opts.cert.c_str()};
    for (auto& a : opts.extra_args)
        argv.push_back(a.c_str());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "node", &fa, nullptr, const_cast<char* const*>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (rc != 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        failure = std::string("cannot start node: ") + std::strerror(rc);
        return false;
    }
    pid_ = pid;
    stdin_fd_ = in_pipe[1];

    // Wait for "READY <port>\n".
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{out_pipe[0], POLLIN, 0};
        if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        char buf[128];
        auto n = read(out_pipe[0], buf, sizeof buf);
        if (n <= 0)
            break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    close(out_pipe[0]);
    if (line.rfind("READY ", 0) != 0) {
        stop();
        failure = "the test authorization server did not start within 20 s (stdout: '" + line + "')";
        return false;
    }
    port_ = static_cast<unsigned short>(std::stoi(line.substr(6)));
    return true;
}

oidc_server::oidc_server(server_options opts)
{
    if (!std::filesystem::exists(server_dir() + "/node_modules/oidc-provider"))
        throw std::runtime_error("test/server/node_modules is missing: run `npm ci --prefix test/server`");
    // Start-up is test plumbing, not the library under test: a start that
    // stalls on a loaded machine is retried once, and said so on stderr.
    std::string failure;
    if (start(opts, failure))
        return;
    std::fprintf(stderr, "test harness: %s; starting it again\n", failure.c_str());
    if (!start(opts, failure))
        throw std::runtime_error(failure);
}



oidc_server::~oidc_server() { stop(); }

void oidc_server::stop()
{
    if (stdin_fd_ >= 0) {
        close(stdin_fd_);
        stdin_fd_ = -1;
    }
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        int status = 0;
        // never wait forever on a stuck child: SIGKILL after 5 s
        for (int i = 0; i < 500 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
            usleep(10000);
        if (waitpid(pid_, &status, WNOHANG) == 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }
}

std::string oidc_server::issuer() const { return "https://127.0.0.1:" + std::to_string(port_); }

std::string oidc_server::token_endpoint() const { return issuer() + "/token"; }

oidc_server::response oidc_server::request(std::string_view method, std::string_view target,
                                           std::string_view form_body, std::string_view basic_user,
                                           std::string_view basic_password, std::string_view dpop_proof) const
{
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    asio::io_context ctx;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(ca_file());
    tls.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<asio::ip::tcp::socket> stream(ctx, tls);
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
    stream.handshake(asio::ssl::stream_base::client);
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    if (!form_body.empty() || method == "POST") {
        req.set(http::field::content_type, "application/x-www-form-urlencoded");
        req.body() = std::string(form_body);
    }
    if (!basic_user.empty())
        req.set(http::field::authorization, basic_authorization(basic_user, basic_password));
    if (!dpop_proof.empty())
        req.set("DPoP", dpop_proof);
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    boost::system::error_code ignored;
    stream.next_layer().close(ignored);
    return {res.result_int(), res.body(), std::string(res["DPoP-Nonce"])};
}

long oidc_server::stat(std::string_view name) const
{
    auto r = request("GET", "/test/stats");
    return static_cast<long>(boost::json::parse(r.body).as_object().at(name).to_number<long>());
}

void oidc_server::reset_stats() const { request("POST", "/test/reset"); }

std::string oidc_server::user_token(std::string_view username, std::string_view user_type, int ttl) const
{
    std::string body = "grant_type=" + form_encode("urn:tetrapak:test:user-token") + "&username=" +
                       form_encode(username) + "&user_type=" + form_encode(user_type) + "&ttl=" + std::to_string(ttl);
    auto r = request("POST", "/token", body, "user-issuer", "user-issuer-secret");
    if (r.status != 200)
        throw std::runtime_error("user-token grant failed: " + r.body);
    return std::string(boost::json::parse(r.body).as_object().at("access_token").as_string());
}

oidc_server& default_server()
{
    static oidc_server server;
    return server;
}

} // namespace tetrapak::test
