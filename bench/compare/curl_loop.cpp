// Contender "curl" of the side-by-side benchmarks (bench/compare/compare.py):
// sequential client-credentials requests with libcurl's easy interface, on one
// thread, parsed like a token client parses them.
//
//   curl_loop --url URL --ca FILE --id ID --secret S --n N [--warmup W]
//             --mode reuse|fresh|fresh-share [--proxy URL]
//
// reuse        one easy handle for every request: its connection is kept alive
// fresh        a new easy handle per request: a new connection and a full TLS handshake
// fresh-share  a new easy handle per request, TLS sessions shared through a CURLSH
//              (CURL_LOCK_DATA_SSL_SESSION): a new connection, a resumed handshake
// --proxy URL  through this HTTP proxy (CURLOPT_PROXY; without it, no proxy
//              whatever the environment says)
//
// Each request: POST grant_type=client_credentials, HTTP Basic client
// authentication, certificate and host verification against --ca only, HTTP/1.1.
// Each answer: status 200 required, the body parsed with Boost.JSON (the parser
// tetrapak-asio uses), access_token a non-empty string, token_type a string,
// expires_in a number; otherwise the request counts as failed. That is less
// than tetrapak-asio checks (see bench/README.md), and never more.
//
// After W warm-up requests, times N requests (wall clock and
// getrusage(RUSAGE_SELF)) and prints one JSON line.
#include <curl/curl.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/resource.h>

namespace json = boost::json;

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

struct options {
    std::string url, ca, id, secret, mode = "reuse", proxy;
    long n = 100, warmup = 20;
};

size_t on_body(char* data, size_t size, size_t count, void* user)
{
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

/// The body of a successful token response, checked as a client must.
bool valid_token_response(const std::string& body)
{
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object())
        return false;
    const auto& o = v.get_object();
    const auto* at = o.if_contains("access_token");
    const auto* tt = o.if_contains("token_type");
    const auto* ei = o.if_contains("expires_in");
    return at && at->is_string() && !at->get_string().empty() && tt && tt->is_string() && ei && ei->is_number();
}

class loop {
public:
    explicit loop(const options& o) : o_(o)
    {
        if (o_.mode == "fresh-share") {
            share_ = curl_share_init();
            curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        }
        if (o_.mode == "reuse")
            easy_ = make_handle();
    }
    ~loop()
    {
        if (easy_)
            curl_easy_cleanup(easy_);
        if (share_)
            curl_share_cleanup(share_);
    }
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    /// One request; true when it produced a valid token.
    bool once()
    {
        CURL* h = easy_ ? easy_ : make_handle();
        body_.clear();
        CURLcode rc = curl_easy_perform(h);
        long status = 0, connects = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        connects_ += connects;
        if (!easy_)
            curl_easy_cleanup(h);
        if (rc != CURLE_OK) {
            if (first_error_.empty())
                first_error_ = curl_easy_strerror(rc);
            return false;
        }
        if (status != 200 || !valid_token_response(body_)) {
            if (first_error_.empty())
                first_error_ = "HTTP " + std::to_string(status) + ": " + body_.substr(0, 200);
            return false;
        }
        return true;
    }

    long connects() const { return connects_; }
    void reset_connects() { connects_ = 0; }
    const std::string& first_error() const { return first_error_; }

private:
    CURL* make_handle()
    {
        CURL* h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, o_.url.c_str());
        curl_easy_setopt(h, CURLOPT_PROXY, o_.proxy.c_str());
        curl_easy_setopt(h, CURLOPT_CAINFO, o_.ca.c_str());
        curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, o_.id.c_str());
        curl_easy_setopt(h, CURLOPT_PASSWORD, o_.secret.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "grant_type=client_credentials");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body_);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (share_)
            curl_easy_setopt(h, CURLOPT_SHARE, share_);
        return h;
    }

    const options& o_;
    CURLSH* share_ = nullptr;
    CURL* easy_ = nullptr;
    std::string body_;
    std::string first_error_;
    long connects_ = 0;
};

} // namespace

int main(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            std::cerr << "curl_loop: " << a << " needs a value\n";
            return 2;
        }
        std::string v = argv[++i];
        if (a == "--url") o.url = v;
        else if (a == "--ca") o.ca = v;
        else if (a == "--id") o.id = v;
        else if (a == "--secret") o.secret = v;
        else if (a == "--n") o.n = std::atol(v.c_str());
        else if (a == "--warmup") o.warmup = std::atol(v.c_str());
        else if (a == "--mode") o.mode = v;
        else if (a == "--proxy") o.proxy = v;
        else {
            std::cerr << "curl_loop: unknown argument " << a << '\n';
            return 2;
        }
    }
    if (o.url.empty() || o.ca.empty() || o.id.empty() || o.n <= 0 ||
        (o.mode != "reuse" && o.mode != "fresh" && o.mode != "fresh-share")) {
        std::cerr << "usage: curl_loop --url URL --ca FILE --id ID --secret S --n N [--warmup W] --mode reuse|fresh|fresh-share [--proxy URL]\n";
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long warm_ok = 0, ok = 0, connects = 0;
    std::string first_error;
    double wall = 0, user = 0, sys = 0;
    {
        loop l(o);
        for (long i = 0; i < o.warmup; ++i)
            warm_ok += l.once();
        l.reset_connects();

        rusage ru0{}, ru1{};
        getrusage(RUSAGE_SELF, &ru0);
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < o.n; ++i)
            ok += l.once();
        const auto t1 = std::chrono::steady_clock::now();
        getrusage(RUSAGE_SELF, &ru1);
        wall = std::chrono::duration<double>(t1 - t0).count();
        user = seconds(ru1.ru_utime) - seconds(ru0.ru_utime);
        sys = seconds(ru1.ru_stime) - seconds(ru0.ru_stime);
        connects = l.connects();
        first_error = l.first_error();
    }
    std::printf("{\"client\":\"curl-%s\",\"n\":%ld,\"ok\":%ld,\"wall_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f,"
                "\"connections_opened\":%ld,\"warmup_ok\":%ld,\"curl\":\"%s\"}\n",
                o.mode.c_str(), o.n, ok, wall, user, sys, connects, warm_ok, curl_version_info(CURLVERSION_NOW)->version);
    if (!first_error.empty())
        std::fprintf(stderr, "curl_loop: first error: %s\n", first_error.c_str());
    curl_global_cleanup();
    return ok == o.n && warm_ok == o.warmup ? 0 : 1;
}
