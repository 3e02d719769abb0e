// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#ifndef TETRAPAK_LIB_DETAIL_SHA256_HPP
#define TETRAPAK_LIB_DETAIL_SHA256_HPP

// SHA-256 through OpenSSL 3 without its per-call costs: EVP_sha256() makes
// every EVP_DigestInit fetch the algorithm from the provider again, and
// EVP_Digest allocates a context per call. Here the algorithm is fetched once
// per process and each thread reuses one context.

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <new>
#include <string_view>

namespace tetrapak::detail {

using sha256_digest = std::array<unsigned char, 32>;

/// The SHA-256 implementation, fetched once (EVP_sha256() if the fetch fails).
inline const EVP_MD* sha256_md() noexcept
{
    static const EVP_MD* const md = [] {
        const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        return m ? m : EVP_sha256();
    }();
    return md;
}

/// An incremental SHA-256 over this thread's reused context (one at a time per thread).
class sha256 {
public:
    sha256() : ctx_(context())
    {
        if (!EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr))
            throw std::bad_alloc(); // only fails when OpenSSL cannot allocate
    }
    sha256(const sha256&) = delete;
    sha256& operator=(const sha256&) = delete;

    void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
    /// A length-prefixed field, so ("ab","c") and ("a","bc") differ.
    void field(std::string_view s)
    {
        const std::uint64_t n = s.size();
        unsigned char len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = static_cast<unsigned char>(n >> (8 * i));
        EVP_DigestUpdate(ctx_, len, sizeof len);
        update(s);
    }
    sha256_digest finish()
    {
        sha256_digest d{};
        unsigned int len = 0;
        if (!EVP_DigestFinal_ex(ctx_, d.data(), &len))
            throw std::bad_alloc();
        return d;
    }

private:
    static EVP_MD_CTX* context()
    {
        struct free_ctx {
            void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
        };
        thread_local const std::unique_ptr<EVP_MD_CTX, free_ctx> ctx(EVP_MD_CTX_new());
        if (!ctx)
            throw std::bad_alloc();
        return ctx.get();
    }

    EVP_MD_CTX* ctx_;
};

/// SHA-256 of `data`.
inline sha256_digest sha256_of(std::string_view data)
{
    sha256 h;
    h.update(data);
    return h.finish();
}

} // namespace tetrapak::detail

#endif
