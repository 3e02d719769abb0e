// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// The fleet as real processes: this test executable started again as a
// worker (the disabled suite fleet_worker, run by name), each worker one
// instance of a service with its own io_context and its own connections.

#include "fleet_instance.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace tetrapak;
using namespace std::chrono_literals;

namespace {

const char* env_or(const char* name, const char* fallback)
{
    const char* v = std::getenv(name);
    return v ? v : fallback;
}

/// What a worker is told, through its environment.
struct worker_job {
    std::string dir, token_url, ca_file, redis_url;
    int callers = 500;
    int lock_ttl_ms = 5000;
};

/// Starts this executable as a worker; returns its pid.
pid_t spawn_worker(const worker_job& job)
{
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
        env_strings.emplace_back(*e);
    env_strings.push_back("FLEET_WORKER_DIR=" + job.dir);
    env_strings.push_back("FLEET_WORKER_TOKEN_URL=" + job.token_url);
    env_strings.push_back("FLEET_WORKER_CA=" + job.ca_file);
    env_strings.push_back("FLEET_WORKER_REDIS=" + job.redis_url);
    env_strings.push_back("FLEET_WORKER_CALLERS=" + std::to_string(job.callers));
    env_strings.push_back("FLEET_WORKER_LOCK_TTL_MS=" + std::to_string(job.lock_ttl_ms));
    std::vector<char*> envp;
    for (auto& s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string exe = fs::read_symlink("/proc/self/exe");
    std::string a0 = exe, a1 = "--run_test=fleet_worker", a2 = "--log_level=nothing", a3 = "--report_level=no";
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
    pid_t pid = -1;
    if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()) != 0)
        throw std::runtime_error("posix_spawn failed");
    return pid;
}

int wait_exit(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_all(const fs::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A worker's report: "ok N", "failed N", "repeated N" (handlers completed
/// twice), then "token FINGERPRINT" per distinct token.
struct worker_report {
    int ok = 0, failed = 0, repeated = 0;
    std::set<std::string> tokens;
};

worker_report parse_report(const std::string& text)
{
    worker_report r;
    std::istringstream in(text);
    for (std::string word, value; in >> word >> value;) {
        if (word == "ok")
            r.ok = std::stoi(value);
        else if (word == "failed")
            r.failed = std::stoi(value);
        else if (word == "repeated")
            r.repeated = std::stoi(value);
        else if (word == "token")
            r.tokens.insert(value);
    }
    return r;
}

worker_job job_for(const test::oidc_server& server, const test::redis_server& redis, const fs::path& dir)
{
    return {dir.string(), server.token_endpoint(), test::oidc_server::ca_file(), redis.url()};
}

/// Writes "go" with a start time 200 ms ahead (written whole, then renamed into place).
void start_workers(const fs::path& dir)
{
    const auto at = std::chrono::system_clock::now() + 200ms;
    std::ofstream(dir / "go.tmp") << std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count()
                                  << '\n';
    fs::rename(dir / "go.tmp", dir / "go");
}

fs::path fresh_dir()
{
    auto dir = fs::temp_directory_path() / ("tetrapak-fleet-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir);
    return dir;
}

} // namespace

// One instance of the fleet: the configuration from the environment; ready
// once its service is up; `callers` calls at once when the file "go" appears.
BOOST_AUTO_TEST_SUITE(fleet_worker, *boost::unit_test::disabled())

BOOST_AUTO_TEST_CASE(serve_callers)
{
    const fs::path dir = env_or("FLEET_WORKER_DIR", "");
    BOOST_TEST_REQUIRE(!dir.empty());
    auth_config cfg;
    cfg.client_id = "basic-client";
    cfg.client_secret = "basic-secret";
    cfg.token_endpoint = env_or("FLEET_WORKER_TOKEN_URL", "");
    cfg.tls.ca_file = env_or("FLEET_WORKER_CA", "");
    cfg.fleet.redis_url = env_or("FLEET_WORKER_REDIS", "");
    cfg.fleet.keys = test::fleet_key_1;
    cfg.fleet.connect_timeout = 3s;
    cfg.fleet.command_timeout = 3s;
    cfg.fleet.lock_ttl = std::chrono::milliseconds(std::atoi(env_or("FLEET_WORKER_LOCK_TTL_MS", "5000")));
    cfg.fleet.max_wait = 20s;
    const int callers = std::atoi(env_or("FLEET_WORKER_CALLERS", "500"));

    asio::thread_pool pool(2);
    authorization_service auth(pool.get_executor(), cfg);
    std::ofstream(dir / ("ready." + std::to_string(::getpid()))) << "ready\n";
    while (!fs::exists(dir / "go"))
        std::this_thread::sleep_for(1ms);
    // "go" holds a start time (system clock, ns) shortly ahead: every worker starts at once.
    long long start_ns = 0;
    std::ifstream(dir / "go") >> start_ns;
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::nanoseconds(start_ns)));

    std::atomic<int> ok{0}, failed{0}, done{0}, repeated{0};
    std::mutex mtx;
    std::set<std::string> tokens;
    for (int i = 0; i < callers; ++i) {
        auth.async_authorize({}, [&, ran = false](boost::system::error_code ec, actor_token t) mutable {
            if (std::exchange(ran, true)) { // completed twice: a library bug, reported
                ++repeated;
                return;
            }
            if (ec) {
                ++failed;
            } else {
                ++ok;
                std::lock_guard lock(mtx);
                tokens.insert(t.fingerprint());
            }
            ++done;
        });
    }
    test::eventually([&] { return done == callers; }, 60000ms);
    std::ofstream out(dir / ("result." + std::to_string(::getpid())));
    out << "ok " << ok << "\nfailed " << failed << "\nrepeated " << repeated << '\n';
    for (const auto& t : tokens)
        out << "token " << t << '\n';
    out.close();
    pool.stop();
    pool.join();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fleet_processes)

BOOST_AUTO_TEST_CASE(four_processes_of_500_callers_make_one_token_request)
{
    test::redis_server redis;
    test::oidc_server server;
    const auto dir = fresh_dir();
    constexpr int processes = 4, callers = 500;
    std::vector<pid_t> pids;
    for (int i = 0; i < processes; ++i)
        pids.push_back(spawn_worker(job_for(server, redis, dir)));
    BOOST_TEST_REQUIRE(test::eventually([&] {
        int ready = 0;
        for (const auto& e : fs::directory_iterator(dir))
            ready += e.path().filename().string().starts_with("ready.");
        return ready == processes;
    }, 20000ms));
    start_workers(dir);
    std::set<std::string> tokens;
    int ok = 0, failed = 0, repeated = 0;
    for (auto pid : pids) {
        BOOST_TEST(wait_exit(pid) == 0);
        auto r = parse_report(read_all(dir / ("result." + std::to_string(pid))));
        ok += r.ok;
        failed += r.failed;
        repeated += r.repeated;
        tokens.insert(r.tokens.begin(), r.tokens.end());
    }
    BOOST_TEST(ok == processes * callers);
    BOOST_TEST(failed == 0);
    BOOST_TEST(repeated == 0);
    BOOST_TEST(tokens.size() == 1u); // every caller of every process got the same token
    BOOST_TEST(server.stat("token_requests") == 1);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_lock_holder_killed_while_fetching_is_taken_over)
{
    test::redis_server redis;
    test::oidc_server server({.extra_args = {"--slow-token", "1500"}});
    const auto dir = fresh_dir();
    auto job = job_for(server, redis, dir);
    job.callers = 1;
    job.lock_ttl_ms = 2500; // still held when the other instance first looks, even on a loaded machine
    const pid_t holder = spawn_worker(job);
    BOOST_TEST_REQUIRE(test::eventually([&] { return fs::exists(dir / ("ready." + std::to_string(holder))); }, 20000ms));
    start_workers(dir);
    BOOST_TEST_REQUIRE(test::eventually([&] { return !redis.keys("tetrapak:t:*:lock").empty(); }, 5000ms));
    BOOST_TEST_REQUIRE(test::eventually([&] { return server.stat("token_requests") == 1; }, 5000ms));
    ::kill(holder, SIGKILL); // dies holding the lock, its request still at the server
    wait_exit(holder);

    auto cfg = test::fleet_client(server, redis);
    cfg.fleet.lock_ttl = 1000ms;
    cfg.fleet.max_wait = 10s;
    test::fleet_instance other(cfg);
    auto t = other.authorize();
    BOOST_TEST_REQUIRE(!t.ec, t.ec.message() << ' ' << t.diag);
    BOOST_TEST(other.stat(metric::fleet_waited) == 1u); // it waited for the dead holder's lock (at most 2.5 s)...
    BOOST_TEST(t.elapsed < 7s);                          // ...and its own 1.5 s fetch, not for max_wait (10 s)
    BOOST_TEST(server.stat("token_requests") == 2);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(refresh_ahead_renews_once_for_the_fleet)
{
    test::redis_server redis;
    test::oidc_server server({.ttl = 4});
    std::vector<std::unique_ptr<test::fleet_instance>> fleet;
    for (int i = 0; i < 4; ++i)
        fleet.push_back(std::make_unique<test::fleet_instance>(test::fleet_client(server, redis)));
    auto first = fleet[0]->authorize();
    BOOST_TEST_REQUIRE(!first.ec);
    BOOST_TEST_REQUIRE(test::eventually([&] { return !redis.keys("tetrapak:t:*").empty(); }));
    for (auto& i : fleet)
        BOOST_TEST_REQUIRE(i->authorize().token.value() == first.token.value());
    BOOST_TEST(server.stat("token_requests") == 1);

    // In the refresh window (from about 2 s of 4), every instance is called:
    // each sees the renewal due, one renews, the others adopt its token.
    const auto until_window = first.token.issued_at() + 2300ms - std::chrono::system_clock::now();
    if (until_window > 0s)
        std::this_thread::sleep_for(until_window);
    for (auto& i : fleet)
        BOOST_TEST(!i->authorize().ec);
    BOOST_TEST(test::eventually([&] {
        std::set<std::string> seen;
        for (auto& i : fleet)
            seen.insert(std::string(i->authorize().token.value()));
        return seen.size() == 1u && *seen.begin() != first.token.value();
    }, 5000ms));
    BOOST_TEST(server.stat("token_requests") == 2); // one renewal for the fleet
}

BOOST_AUTO_TEST_SUITE_END()
