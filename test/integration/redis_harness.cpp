// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
// Self-test of the Redis harness (common/redis_server): hiredis and plain Asio
// against the real redis-server, no library code.
#include "redis_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using tetrapak::test::redis_options;
using tetrapak::test::redis_server;

struct context_deleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

/// A hiredis connection with read/write timeouts; null when connecting failed.
context_ptr connect(unsigned short port, std::chrono::milliseconds timeout = 2s)
{
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    context_ptr c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!c || c->err)
        return nullptr;
    redisSetTimeout(c.get(), tv);
    return c;
}

/// The reply as text for assertions: "+PONG", "-NOAUTH ...", ":42", a bulk
/// string as is, "(nil)", or "!io " and hiredis's error when no reply came.
std::string ask(redisContext& c, const std::vector<std::string_view>& argv)
{
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (auto a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(&c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
    if (!r)
        return std::string("!io ") + c.errstr;
    std::string out;
    switch (r->type) {
    case REDIS_REPLY_STATUS: out = "+" + std::string(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out = "-" + std::string(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out = ":" + std::to_string(r->integer); break;
    case REDIS_REPLY_STRING: out = std::string(r->str, r->len); break;
    case REDIS_REPLY_NIL: out = "(nil)"; break;
    default: out = "(array)"; break;
    }
    freeReplyObject(r);
    return out;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

/// PING over TLS, verifying the certificate against `ca_file` (empty: the system's CAs).
std::string tls_ping(unsigned short port, const std::string& ca_file)
{
    asio::io_context ctx;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    if (ca_file.empty())
        tls.set_default_verify_paths();
    else
        tls.load_verify_file(ca_file);
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    asio::ssl::stream<tcp::socket> stream(ctx, tls);
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream.handshake(asio::ssl::stream_base::client);
    asio::write(stream, asio::buffer(std::string_view("PING\r\n")));
    std::string line;
    asio::read_until(stream, asio::dynamic_buffer(line), "\r\n");
    return line;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_harness)

BOOST_AUTO_TEST_CASE(starts_and_stores_binary_values)
{
    redis_server redis;
    BOOST_TEST(redis.running());
    BOOST_TEST(redis.port() != 0);
    BOOST_TEST(redis.tls_port() == 0);
    BOOST_TEST(redis.url() == "redis://127.0.0.1:" + std::to_string(redis.port()));
    BOOST_TEST(redis.url_without_credentials() == redis.url());
    BOOST_CHECK_THROW(redis.ca_file(), std::logic_error);

    const std::string value("a\0b\xff\r\n", 6);
    redis.set("tetrapak:bin", value);
    auto got = redis.get("tetrapak:bin");
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->size() == 6u);
    BOOST_TEST(*got == value);
    BOOST_TEST(!redis.get("tetrapak:absent").has_value());

    // A key with a NUL in its name too, read back through hiredis directly.
    const std::string key("k\0ey", 4);
    redis.set(key, "v");
    auto c = connect(redis.port());
    BOOST_REQUIRE(c);
    BOOST_TEST(ask(*c, {"GET", key}) == "v");
    BOOST_TEST(ask(*c, {"STRLEN", "tetrapak:bin"}) == ":6");
}

BOOST_AUTO_TEST_CASE(ttl_keys_and_flushall)
{
    redis_server redis;
    redis.set("tetrapak:ttl", "x", 60s);
    redis.set("tetrapak:forever", "y");
    redis.set("other", "z");
    long long ttl = redis.pttl("tetrapak:ttl");
    BOOST_TEST(ttl > 55'000);
    BOOST_TEST(ttl <= 60'000);
    BOOST_TEST(redis.pttl("tetrapak:forever") == -1);
    BOOST_TEST(redis.pttl("tetrapak:absent") == -2);
    BOOST_TEST(redis.keys("tetrapak:*") == (std::vector<std::string>{"tetrapak:forever", "tetrapak:ttl"}));
    BOOST_TEST(redis.keys().size() == 3u);
    BOOST_TEST(redis.keys("nothing*").empty());
    // Enough keys that SCAN needs more than one round.
    for (int i = 0; i < 2500; ++i)
        redis.set("bulk:" + std::to_string(i), "1");
    BOOST_TEST(redis.keys("bulk:*").size() == 2500u);
    redis.flushall();
    BOOST_TEST(redis.keys().empty());
}

BOOST_AUTO_TEST_CASE(command_count_reads_commandstats)
{
    redis_server redis;
    BOOST_TEST(redis.command_count("set") == 0);
    BOOST_TEST(redis.command_count("publish") == 0);
    redis.set("a", "1");
    redis.set("b", "2");
    BOOST_TEST(redis.command_count("set") == 2);
    BOOST_TEST(redis.command_count("SET") == 2);
    auto c = connect(redis.port());
    BOOST_REQUIRE(c);
    BOOST_TEST(ask(*c, {"GET", "a"}) == "1");
    BOOST_TEST(ask(*c, {"PUBLISH", "chan", "msg"}) == ":0");
    BOOST_TEST(ask(*c, {"PUBLISH", "chan", "msg"}) == ":0");
    BOOST_TEST(redis.command_count("get") == 1);
    BOOST_TEST(redis.command_count("publish") == 2);
    // "getset" must not be read as "get" (nor the other way round).
    BOOST_TEST(ask(*c, {"GETSET", "a", "3"}) == "1");
    BOOST_TEST(redis.command_count("get") == 1);
    BOOST_TEST(redis.command_count("getset") == 1);
    redis.reset_stats();
    BOOST_TEST(redis.command_count("set") == 0);
}

BOOST_AUTO_TEST_CASE(password_is_required)
{
    const std::string pw = "p@ss:w/rd word";
    redis_server redis(redis_options{.password = pw});
    const std::string url = redis.url(); // the parsed view points into it
    auto parsed = boost::urls::parse_uri(url);
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST(parsed->scheme() == "redis");
    BOOST_TEST(parsed->user() == "");
    BOOST_TEST(parsed->password() == pw);
    BOOST_TEST(parsed->port_number() == redis.port());
    BOOST_TEST(redis.url_without_credentials() == "redis://127.0.0.1:" + std::to_string(redis.port()));

    auto c = connect(redis.port());
    BOOST_REQUIRE(c);
    BOOST_TEST(starts_with(ask(*c, {"PING"}), "-NOAUTH"));
    BOOST_TEST(starts_with(ask(*c, {"AUTH", "wrong"}), "-WRONGPASS"));
    BOOST_TEST(ask(*c, {"AUTH", pw}) == "+OK");
    BOOST_TEST(ask(*c, {"PING"}) == "+PONG");
    // The helpers authenticate.
    redis.set("k", "v");
    BOOST_TEST(redis.get("k").value_or("") == "v");
    BOOST_TEST(redis.log().find(pw) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(acl_user_is_required)
{
    redis_server redis(redis_options{.acl_user = "tetrapak", .acl_password = "acl-secret"});
    BOOST_TEST(redis.url() == "redis://tetrapak:acl-secret@127.0.0.1:" + std::to_string(redis.port()));
    auto c = connect(redis.port());
    BOOST_REQUIRE(c);
    // The default user is off: nothing works before AUTH, nor AUTH as default.
    BOOST_TEST(starts_with(ask(*c, {"PING"}), "-NOAUTH"));
    BOOST_TEST(starts_with(ask(*c, {"AUTH", "acl-secret"}), "-WRONGPASS"));
    BOOST_TEST(starts_with(ask(*c, {"AUTH", "tetrapak", "wrong"}), "-WRONGPASS"));
    BOOST_TEST(ask(*c, {"AUTH", "tetrapak", "acl-secret"}) == "+OK");
    BOOST_TEST(ask(*c, {"ACL", "WHOAMI"}) == "tetrapak");
    BOOST_TEST(ask(*c, {"SET", "k", "v"}) == "+OK");
    BOOST_TEST(redis.get("k").value_or("") == "v");
    BOOST_TEST(redis.keys() == std::vector<std::string>{"k"});

    BOOST_CHECK_THROW(redis_server(redis_options{.acl_user = "only-user"}), std::invalid_argument);
    BOOST_CHECK_THROW(redis_server(redis_options{.acl_user = "a b", .acl_password = "x"}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(acl_user_beside_a_password)
{
    redis_server redis(redis_options{.password = "default-pw", .acl_user = "app", .acl_password = "app-pw"});
    auto c = connect(redis.port());
    BOOST_REQUIRE(c);
    BOOST_TEST(starts_with(ask(*c, {"PING"}), "-NOAUTH"));
    BOOST_TEST(ask(*c, {"AUTH", "default-pw"}) == "+OK");
    BOOST_TEST(ask(*c, {"ACL", "WHOAMI"}) == "default");
    BOOST_TEST(ask(*c, {"AUTH", "app", "app-pw"}) == "+OK");
    BOOST_TEST(ask(*c, {"ACL", "WHOAMI"}) == "app");
}

BOOST_AUTO_TEST_CASE(kill_and_restart_on_the_same_port)
{
    redis_server redis;
    const unsigned short port = redis.port();
    redis.set("k", "v");
    redis.kill();
    BOOST_TEST(!redis.running());
    BOOST_TEST(redis.port() == port);
    BOOST_TEST(!connect(port));
    BOOST_CHECK_THROW(redis.get("k"), std::runtime_error);

    redis.restart();
    BOOST_TEST(redis.running());
    BOOST_TEST(redis.port() == port);
    auto c = connect(port);
    BOOST_REQUIRE(c);
    BOOST_TEST(ask(*c, {"PING"}) == "+PONG");
    BOOST_TEST(!redis.get("k").has_value());
    BOOST_TEST(redis.keys().empty());

    // restart() of a running server kills it first.
    redis.set("k2", "v");
    redis.restart();
    BOOST_TEST(redis.port() == port);
    BOOST_TEST(redis.keys().empty());
}

BOOST_AUTO_TEST_CASE(pause_makes_commands_time_out)
{
    redis_server redis;
    redis.pause();
    BOOST_TEST(redis.running());
    // The kernel still accepts the connection; only the reply never comes.
    auto c = connect(redis.port(), 200ms);
    BOOST_REQUIRE(c);
    auto start = std::chrono::steady_clock::now();
    BOOST_TEST(starts_with(ask(*c, {"PING"}), "!io"));
    auto waited = std::chrono::steady_clock::now() - start;
    BOOST_TEST((waited >= 150ms));
    BOOST_TEST((waited < 2s));

    redis.resume();
    auto again = connect(redis.port(), 200ms);
    BOOST_REQUIRE(again);
    BOOST_TEST(ask(*again, {"PING"}) == "+PONG");
    redis.pause(); // the destructor must still end a stopped server
}

BOOST_AUTO_TEST_CASE(tls_port_answers_with_a_verified_certificate)
{
    redis_server redis(redis_options{.password = "tls-pw", .tls = true});
    BOOST_TEST(redis.tls_port() != 0);
    BOOST_TEST(redis.tls_port() != redis.port());
    BOOST_TEST(redis.url() == "rediss://:tls-pw@127.0.0.1:" + std::to_string(redis.tls_port()));
    BOOST_TEST(redis.url_without_credentials() == "rediss://127.0.0.1:" + std::to_string(redis.tls_port()));
    // A password server answers an unauthenticated PING with NOAUTH, over TLS as well.
    BOOST_TEST(starts_with(tls_ping(redis.tls_port(), redis.ca_file()), "-NOAUTH"));
    // The certificate only verifies against the harness's CA.
    BOOST_CHECK_THROW(tls_ping(redis.tls_port(), ""), boost::system::system_error);
    // Plain TLS-less hiredis still reaches the plain port.
    redis.set("k", "v");
    BOOST_TEST(redis.get("k").value_or("") == "v");

    redis_server open(redis_options{.tls = true});
    BOOST_TEST(tls_ping(open.tls_port(), open.ca_file()) == "+PONG\r\n");
    // A plain client on the TLS port gets no answer it can read as RESP.
    auto c = connect(open.tls_port(), 300ms);
    BOOST_REQUIRE(c);
    BOOST_TEST(ask(*c, {"PING"}) != "+PONG");
}

BOOST_AUTO_TEST_SUITE_END()
