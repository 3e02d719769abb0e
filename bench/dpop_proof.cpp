// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Micro-benchmark: the cost of one DPoP proof (RFC 9449), the work added to
// every token request and every resource request of a DPoP client. One
// benchmark per algorithm (ES256, RS256, PS256, EdDSA), each proof with a
// nonce and an ath, against one RFC 7523 client assertion signed with ES256
// (the nearest thing the library already did per request), so the ratios come
// from the same run:
//
//   build/bench/tetrapak_bench_micro --benchmark_filter='dpop|client_assertion' --benchmark_min_time=0.2
//
// And a whole fetch with DPoP against one without (bm_fetch/bearer,
// bm_fetch/dpop): forced client-credentials fetches from the real
// authorization server over one kept-alive connection, the same client and
// configuration but for auth_config::dpop; CPU time is this process's (the
// server is another process), so the ratio is what DPoP adds to a fetch.
//
// No network. Registered at static initialisation: main() is cache_hit.cpp's.
// In --smoke mode (ctest) the proofs are made the same way; a failed one stops
// the benchmark with an error, which fails the smoke test.
#include "micro.hpp"
#include "test_config.hpp"

#include <tetrapak.hpp>

#include <benchmark/benchmark.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <memory>
#include <string>

namespace tetrapak::bench {
namespace {

// RFC 9449 §7.1's access token; a nonce of a typical length.
constexpr std::string_view access_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
constexpr std::string_view nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v";
constexpr std::string_view endpoint = "https://server.example.com/token";

/// One key per algorithm for the whole run (an RSA key takes a while to make).
std::shared_ptr<const dpop_key> proof_key(const std::string& alg)
{
    static std::map<std::string, std::shared_ptr<const dpop_key>> keys;
    auto& key = keys[alg];
    if (!key) {
        auto made = dpop_key::generate(alg);
        if (made)
            key = *made;
    }
    return key;
}

void bm_dpop_proof(benchmark::State& state, const std::string& alg)
{
    const auto key = proof_key(alg);
    if (!key) {
        state.SkipWithError("dpop_key::generate failed");
        return;
    }
    const dpop_proof_claims claims{"POST", endpoint, std::chrono::system_clock::now(), nonce, access_token};
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto proof = make_dpop_proof(*key, claims);
        if (!proof) {
            state.SkipWithError("make_dpop_proof failed");
            return;
        }
        bytes = proof->size();
        benchmark::DoNotOptimize(proof);
    }
    state.counters["proof_bytes"] = static_cast<double>(bytes);
}

std::shared_ptr<const signing_key> assertion_key()
{
    static const auto key = []() -> std::shared_ptr<const signing_key> {
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                                 &EVP_PKEY_free);
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
        if (!pkey || !bio || PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
            return nullptr;
        char* data = nullptr;
        const long len = BIO_get_mem_data(bio.get(), &data);
        diagnostics diag;
        auto k = signing_key::load_pem(std::string_view(data, static_cast<std::size_t>(len)), "kid-1", diag);
        return k ? *k : nullptr;
    }();
    return key;
}

void bm_client_assertion_es256(benchmark::State& state)
{
    const auto key = assertion_key();
    if (!key) {
        state.SkipWithError("the ES256 signing key could not be made");
        return;
    }
    const assertion_claims claims{"client-id", endpoint, std::chrono::system_clock::now()};
    for (auto _ : state) {
        auto jwt = make_client_assertion(*key, claims);
        if (!jwt) {
            state.SkipWithError("make_client_assertion failed");
            return;
        }
        benchmark::DoNotOptimize(jwt);
    }
}

void bm_fetch(benchmark::State& state, bool dpop)
{
    auto cfg = test::basic_client(server());
    cfg.dpop.enabled = dpop;
    asio::io_context ctx;
    authorization_service auth(ctx.get_executor(), cfg);
    http_client_options forced;
    forced.force_authorization = true;
    auto fetch_one = [&]() -> bool {
        bool ok = false;
        auth.async_authorize(forced, [&](boost::system::error_code ec, actor_token t) {
            ok = !ec && t.is_dpop_bound() == dpop;
        });
        ctx.restart();
        ctx.run();
        return ok;
    };
    if (!fetch_one()) { // the connection, the TLS session and the service key, outside the timing
        state.SkipWithError("the first fetch failed (or the token type is not the one asked for)");
        return;
    }
    for (auto _ : state)
        if (!fetch_one()) {
            state.SkipWithError("a fetch failed");
            return;
        }
    state.counters["connections"] = static_cast<double>(auth.stats()[metric::connection_opened]);
}

const bool registered = [] {
    benchmark::RegisterBenchmark("bm_fetch/bearer", bm_fetch, false)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("bm_fetch/dpop", bm_fetch, true)->Unit(benchmark::kMicrosecond);
    for (const char* alg : {"ES256", "RS256", "PS256", "EdDSA"})
        benchmark::RegisterBenchmark((std::string("bm_dpop_proof/") + alg).c_str(), bm_dpop_proof, std::string(alg))
            ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("bm_client_assertion_es256", bm_client_assertion_es256)->Unit(benchmark::kMicrosecond);
    return true;
}();

} // namespace
} // namespace tetrapak::bench
