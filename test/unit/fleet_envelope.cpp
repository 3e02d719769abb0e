// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
//
// Encrypted envelopes for the shared (L2) token cache and their key ring.
// The cipher is checked against an AES-256-GCM computed here with OpenSSL's
// EVP directly, and against a vector computed once with another
// implementation (Python's `cryptography`), so the module is not trusted to
// check itself.
#include <tetrapak/error.hpp>

#include "fleet/envelope.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace tetrapak;
using tetrapak::detail::envelope_key;
using tetrapak::detail::envelope_keyring;
using tetrapak::detail::envelope_nonce;
using tetrapak::detail::open_failure;

namespace {

using key_bytes = std::array<unsigned char, 32>;

key_bytes bytes_filled(unsigned char first, unsigned char step)
{
    key_bytes b{};
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<unsigned char>(first + i * step);
    return b;
}

envelope_key key_of(std::string id, unsigned char first)
{
    return envelope_key{std::move(id), bytes_filled(first, 7)};
}

envelope_keyring ring_of(std::vector<envelope_key> keys)
{
    return envelope_keyring(std::move(keys));
}

/// Standard base64 (RFC 4648 §4) written here, so the module's decoder is checked, not trusted.
std::string base64_of(std::string_view bytes)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t group = 0;
        for (std::size_t j = 0; j < 3; ++j)
            group = group << 8 | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
        for (std::size_t j = 0; j < 4; ++j)
            out += j <= n ? alphabet[(group >> (18 - 6 * j)) & 63] : '=';
    }
    return out;
}

std::string base64_of(const key_bytes& b)
{
    return base64_of(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string binary_text()
{
    std::string s;
    for (int i = 0; i < 300; ++i)
        s += static_cast<char>(i % 256);
    return s; // NULs and every byte value
}

std::string_view header_of(std::string_view env)
{
    return env.substr(0, 2 + static_cast<unsigned char>(env[1]));
}

/// AES-256-GCM of `plaintext` with OpenSSL's EVP directly (ciphertext then tag).
std::string independent_gcm(const key_bytes& key, const envelope_nonce& nonce, std::string_view plaintext,
                            std::string_view additional_data)
{
    EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    BOOST_TEST_REQUIRE((cipher && ctx));
    std::string out(plaintext.size() + 16, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    int n = 0;
    BOOST_TEST_REQUIRE(EVP_EncryptInit_ex2(ctx, cipher, key.data(), nonce.data(), nullptr) == 1);
    BOOST_TEST_REQUIRE(EVP_EncryptUpdate(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(additional_data.data()),
                                         static_cast<int>(additional_data.size())) == 1);
    BOOST_TEST_REQUIRE(EVP_EncryptUpdate(ctx, o, &n, reinterpret_cast<const unsigned char*>(plaintext.data()),
                                         static_cast<int>(plaintext.size())) == 1);
    BOOST_TEST_REQUIRE(EVP_EncryptFinal_ex(ctx, o + n, &n) == 1);
    BOOST_TEST_REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, o + plaintext.size()) == 1);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return out;
}

std::string hex_of(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

/// A file that is removed when the test ends.
struct temp_file {
    std::filesystem::path path;

    explicit temp_file(std::string_view content)
    {
        std::string name = (std::filesystem::temp_directory_path() / "tetrapak-envelope-XXXXXX").string();
        int fd = mkstemp(name.data());
        BOOST_TEST_REQUIRE(fd >= 0);
        close(fd);
        path = name;
        std::ofstream(path, std::ios::binary) << content;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

/// from_text's refusal: the error code and message.
struct refusal {
    boost::system::error_code code;
    std::string message;
};

refusal refusal_of(std::string_view spec)
{
    diagnostics diag;
    auto ring = envelope_keyring::from_text(spec, diag);
    BOOST_TEST_REQUIRE(!ring.has_value());
    return {ring.error(), std::string(diag.client_message())};
}

/// Whether `message` holds any 8 consecutive characters of `secret`.
bool echoes(std::string_view message, std::string_view secret)
{
    for (std::size_t i = 0; i + 8 <= secret.size(); ++i)
        if (message.find(secret.substr(i, 8)) != std::string_view::npos)
            return true;
    return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fleet_envelope)

BOOST_AUTO_TEST_CASE(round_trip_of_any_bytes)
{
    auto ring = ring_of({key_of("k1", 1)});
    const std::string cases[] = {"", "x", std::string(64 * 1024, 'q'), binary_text(), std::string("\0\0\0", 3)};
    for (const std::string& plaintext : cases) {
        BOOST_TEST_CONTEXT("plaintext of " << plaintext.size() << " bytes")
        {
            std::string env = detail::seal(ring, plaintext, "cache-key");
            BOOST_TEST(env.size() == 2 + 2 + 12 + plaintext.size() + 16);
            auto opened = detail::open(ring, env, "cache-key");
            BOOST_TEST_REQUIRE(opened.has_value());
            BOOST_TEST((*opened == plaintext));
        }
    }
}

BOOST_AUTO_TEST_CASE(aad_may_be_any_bytes)
{
    auto ring = ring_of({key_of("k1", 1)});
    for (std::string aad : {std::string(), std::string("\0k", 2), std::string(5000, 'a')}) {
        auto opened = detail::open(ring, detail::seal(ring, "token", aad), aad);
        BOOST_TEST_REQUIRE(opened.has_value());
        BOOST_TEST(*opened == "token");
    }
}

BOOST_AUTO_TEST_CASE(two_seals_of_the_same_plaintext_differ)
{
    auto ring = ring_of({key_of("k1", 1)});
    std::string a = detail::seal(ring, "same token", "key");
    std::string b = detail::seal(ring, "same token", "key");
    BOOST_TEST(a.size() == b.size());
    BOOST_TEST(a.substr(4, 12) != b.substr(4, 12)); // the nonces
    BOOST_TEST(a.substr(16) != b.substr(16));       // and so ciphertext and tag
    BOOST_TEST(detail::open(ring, a, "key").has_value());
    BOOST_TEST(detail::open(ring, b, "key").has_value());
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_refused)
{
    auto ring = ring_of({key_of("k1", 1)});
    std::string env = detail::seal(ring, std::string(68, 't'), "orders/client_credentials");
    BOOST_TEST_REQUIRE(env.size() == 100u);
    const std::size_t header_size = header_of(env).size();
    std::size_t not_authentic = 0;
    for (std::size_t bit = 0; bit < env.size() * 8; ++bit) {
        std::string flipped = env;
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
        auto opened = detail::open(ring, flipped, "orders/client_credentials");
        BOOST_TEST_CONTEXT("bit " << bit)
        {
            BOOST_TEST_REQUIRE(!opened.has_value());
            // A flip in the header may make the id unreadable or name another key;
            // anywhere else only the tag can catch it.
            if (bit / 8 >= header_size)
                BOOST_TEST(opened.error() == open_failure::not_authentic);
        }
        not_authentic += !opened && opened.error() == open_failure::not_authentic;
    }
    BOOST_TEST(not_authentic >= (env.size() - header_size) * 8);
}

BOOST_AUTO_TEST_CASE(header_is_authenticated)
{
    // The same key under two ids: relabelling an envelope finds a key that
    // decrypts it, so only the header in the additional data refuses it.
    envelope_key k1 = key_of("k1", 9);
    envelope_key k0 = k1;
    k0.id = "k0";
    auto ring = ring_of({k1, k0});
    std::string env = detail::seal(ring, "token", "key");
    BOOST_TEST_REQUIRE(header_of(env) == std::string_view("\x01\x02k1", 4));
    env[3] = '0';
    auto opened = detail::open(ring, env, "key");
    BOOST_TEST_REQUIRE(!opened.has_value());
    BOOST_TEST(opened.error() == open_failure::not_authentic);
}

BOOST_AUTO_TEST_CASE(another_aad_is_not_authentic)
{
    auto ring = ring_of({key_of("k1", 1)});
    std::string env = detail::seal(ring, "token", "orders/client_credentials");
    for (std::string_view other : {"", "orders/client_credential", "orders/client_credentials ", "Orders/client_credentials",
                                   "orders/client_credentials\x01\x02k1"}) {
        BOOST_TEST_CONTEXT("aad '" << other << "'")
        {
            auto opened = detail::open(ring, env, other);
            BOOST_TEST_REQUIRE(!opened.has_value());
            BOOST_TEST(opened.error() == open_failure::not_authentic);
        }
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_and_an_extension_is_refused)
{
    auto ring = ring_of({key_of("k1", 1)});
    std::string env = detail::seal(ring, "a token of some length", "key");
    const std::size_t shortest = 2 + 2 + 12 + 16;
    for (std::size_t size = 0; size < env.size(); ++size) {
        auto opened = detail::open(ring, std::string_view(env).substr(0, size), "key");
        BOOST_TEST_CONTEXT("first " << size << " bytes")
        {
            BOOST_TEST_REQUIRE(!opened.has_value());
            BOOST_TEST(opened.error() == (size < shortest ? open_failure::malformed : open_failure::not_authentic));
        }
    }
    auto longer = detail::open(ring, env + '\0', "key");
    BOOST_TEST_REQUIRE(!longer.has_value());
    BOOST_TEST(longer.error() == open_failure::not_authentic);
}

BOOST_AUTO_TEST_CASE(malformed_headers)
{
    auto ring = ring_of({key_of("k1", 1)});
    std::string env = detail::seal(ring, "token", "key");
    auto with = [&](std::size_t at, char c) {
        std::string e = env;
        e[at] = c;
        return detail::open(ring, e, "key");
    };
    BOOST_TEST(with(0, 0).error() == open_failure::malformed);    // version 0
    BOOST_TEST(with(0, 2).error() == open_failure::malformed);    // version 2
    BOOST_TEST(with(1, 0).error() == open_failure::malformed);    // empty id
    BOOST_TEST(with(1, 65).error() == open_failure::malformed);   // id too long
    BOOST_TEST(with(1, '\xff').error() == open_failure::malformed);
    BOOST_TEST(with(2, ':').error() == open_failure::malformed);  // not an id character
    BOOST_TEST(with(3, '\0').error() == open_failure::malformed);
}

BOOST_AUTO_TEST_CASE(unknown_key_id)
{
    auto sealer = ring_of({key_of("retired", 1)});
    auto opener = ring_of({key_of("current", 2), key_of("previous", 3)});
    auto opened = detail::open(opener, detail::seal(sealer, "token", "key"), "key");
    BOOST_TEST_REQUIRE(!opened.has_value());
    BOOST_TEST(opened.error() == open_failure::unknown_key);
    BOOST_TEST(detail::name_of(opened.error()) == "unknown_key");
}

BOOST_AUTO_TEST_CASE(rotation_old_keys_still_open_the_new_one_seals)
{
    auto before = ring_of({key_of("old", 1)});
    auto after = ring_of({key_of("new", 2), key_of("old", 1)});
    std::string sealed_before = detail::seal(before, "token", "key");
    auto opened = detail::open(after, sealed_before, "key");
    BOOST_TEST_REQUIRE(opened.has_value());
    BOOST_TEST(*opened == "token");

    std::string sealed_after = detail::seal(after, "token", "key");
    BOOST_TEST(header_of(sealed_after) == std::string_view("\x01\x03new", 5));
    BOOST_TEST(after.current().id == "new");
    BOOST_TEST(!detail::open(before, sealed_after, "key").has_value()); // an old replica cannot read it
}

BOOST_AUTO_TEST_CASE(known_answer)
{
    envelope_key key{"kat-1", bytes_filled(0, 1)}; // 00 01 .. 1f
    const envelope_nonce nonce{0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
    const std::string plaintext("access token \0 with a NUL", 25);
    const std::string aad = "orders/client_credentials";
    auto ring = ring_of({key});
    std::string env = detail::seal_with_nonce(ring, plaintext, aad, nonce);

    std::string header("\x01\x05kat-1", 7);
    BOOST_TEST_REQUIRE(env.size() == header.size() + 12 + plaintext.size() + 16);
    BOOST_TEST(env.substr(0, header.size()) == header);
    BOOST_TEST(hex_of(env.substr(header.size(), 12)) == "cafebabefacedbaddecaf888");
    std::string sealed = env.substr(header.size() + 12);
    // The additional data is the caller's aad followed by the header.
    BOOST_TEST(hex_of(sealed) == hex_of(independent_gcm(key.bytes, nonce, plaintext, aad + header)));
    // AESGCM(key).encrypt(nonce, plaintext, aad + header) in Python's cryptography 48.
    BOOST_TEST(hex_of(sealed) == "ebc0c343d9096f6f296038b35b1da9486454a871be3924210262b9987fbae1a30e1dbe2519a9baf587");
    auto opened = detail::open(ring, env, aad);
    BOOST_TEST_REQUIRE(opened.has_value());
    BOOST_TEST((*opened == plaintext));
}

BOOST_AUTO_TEST_CASE(one_ring_serves_many_threads)
{
    auto ring = ring_of({key_of("k2", 2), key_of("k1", 1)});
    std::vector<int> failures(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < failures.size(); ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                std::string plaintext = "token " + std::to_string(t) + "/" + std::to_string(i);
                auto opened = detail::open(ring, detail::seal(ring, plaintext, plaintext), plaintext);
                failures[t] += !opened || *opened != plaintext;
            }
        });
    for (auto& th : threads)
        th.join();
    for (int f : failures)
        BOOST_TEST(f == 0);
}

BOOST_AUTO_TEST_CASE(ring_constructor_refuses_unusable_keys)
{
    BOOST_CHECK_THROW(ring_of({}), std::invalid_argument);
    BOOST_CHECK_THROW(ring_of({key_of("", 1)}), std::invalid_argument);
    BOOST_CHECK_THROW(ring_of({key_of("a b", 1)}), std::invalid_argument);
    BOOST_CHECK_THROW(ring_of({key_of(std::string(65, 'a'), 1)}), std::invalid_argument);
    BOOST_CHECK_THROW(ring_of({key_of("k1", 1), key_of("k1", 2)}), std::invalid_argument);
    BOOST_CHECK_NO_THROW(ring_of({key_of(std::string(64, 'a'), 1)}));
    BOOST_CHECK_NO_THROW(ring_of({key_of("Az09._-", 1)}));
}

BOOST_AUTO_TEST_CASE(from_text_reads_keys)
{
    const key_bytes first = bytes_filled(0xfb, 0), second = bytes_filled(0, 1); // "+/v7...", "AAEC..."
    BOOST_TEST(base64_of(second) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    diagnostics diag;
    auto one = envelope_keyring::from_text("k1:" + base64_of(first), diag);
    BOOST_TEST_REQUIRE(one.has_value());
    BOOST_TEST(one->size() == 1u);
    BOOST_TEST(one->current().id == "k1");
    BOOST_TEST((one->current().bytes == first));

    auto two = envelope_keyring::from_text(" \n new:" + base64_of(second) + " ,\t2024-01.old_key:" + base64_of(first) + "\n",
                                           diag);
    BOOST_TEST_REQUIRE(two.has_value());
    BOOST_TEST(two->size() == 2u);
    BOOST_TEST(two->current().id == "new");
    BOOST_TEST((two->current().bytes == second));
    BOOST_TEST_REQUIRE(two->find("2024-01.old_key") != nullptr);
    BOOST_TEST((two->find("2024-01.old_key")->bytes == first));
    BOOST_TEST(two->find("missing") == nullptr);
    BOOST_TEST(diag.empty());
}

BOOST_AUTO_TEST_CASE(from_text_refusals_name_the_problem_never_the_key)
{
    const std::string k = base64_of(bytes_filled(0x5a, 13));
    const std::string k2 = base64_of(bytes_filled(0x11, 5));
    const std::string short_key = base64_of(std::string(16, 'x'));
    const std::string long_key = base64_of(std::string(33, 'x'));
    std::string url_key = k;
    std::replace(url_key.begin(), url_key.end(), '+', '-');
    std::replace(url_key.begin(), url_key.end(), '/', '_');
    BOOST_TEST_REQUIRE(url_key != k); // the key has '+' or '/'

    struct case_ {
        std::string spec, fragment;
    };
    const case_ cases[] = {
        {"", "no keys"},
        {" \n\t", "no keys"},
        {"k1:" + k + ",", "key 2: empty"},
        {",k1:" + k, "key 1: empty"},
        {k, "key 1: no ':'"},
        {"k1:" + k + ",k2" + k2, "key 2: no ':'"},
        {"bad id:" + k, "key 1: the id must be 1 to 64 characters"},
        {":" + k, "key 1: the id must be"},
        {std::string(65, 'i') + ":" + k, "key 1: the id must be"},
        {k + ":k1", "key 1: the key is not standard base64"}, // id and key swapped
        {"k1:" + short_key, "key 1: the key is 16 bytes; AES-256 needs exactly 32"},
        {"k1:" + long_key, "key 1: the key is 33 bytes"},
        {"k1:" + k.substr(0, 43), "not standard base64"},              // no padding
        {"k1:" + url_key, "not standard base64"},                      // base64url
        {"k1:" + k.substr(0, 20) + " " + k.substr(20), "not standard base64"},
        {"k1:", "key 1: the key is not standard base64"},
        {"k1:" + k + "\nk2:" + k2, "more than one ':'"},               // a missing ','
        {"k1:" + k + ",k1:" + k2, "key 2: the same id as key 1"},
    };
    for (const case_& c : cases) {
        BOOST_TEST_CONTEXT("expecting '" << c.fragment << "'")
        {
            refusal r = refusal_of(c.spec);
            BOOST_TEST(r.code == make_error_code(error::config_invalid_value));
            BOOST_TEST(r.message.find(c.fragment) != std::string::npos, "message: " << r.message);
            BOOST_TEST(!echoes(r.message, k));
            BOOST_TEST(!echoes(r.message, k2));
            BOOST_TEST(!echoes(r.message, short_key));
            BOOST_TEST(!echoes(r.message, long_key));
        }
    }
}

BOOST_AUTO_TEST_CASE(from_file_reads_a_ring_and_never_echoes_it)
{
    const std::string k = base64_of(bytes_filled(3, 3));
    temp_file good("current:" + k + ",\nprevious:" + base64_of(bytes_filled(4, 4)) + "\n");
    diagnostics diag;
    auto ring = envelope_keyring::from_file(good.path.string(), diag);
    BOOST_TEST_REQUIRE(ring.has_value());
    BOOST_TEST(ring->size() == 2u);
    BOOST_TEST(ring->current().id == "current");
    BOOST_TEST((ring->current().bytes == bytes_filled(3, 3)));

    temp_file bad("k1:" + k + "\nk2:" + k);
    auto refused = envelope_keyring::from_file(bad.path.string(), diag);
    BOOST_TEST_REQUIRE(!refused.has_value());
    BOOST_TEST(refused.error() == make_error_code(error::config_invalid_value));
    BOOST_TEST(diag.client_message().find(bad.path.string()) != std::string_view::npos);
    BOOST_TEST(diag.client_message().find("key 1: more than one ':'") != std::string_view::npos);
    BOOST_TEST(!echoes(diag.client_message(), k));
}

BOOST_AUTO_TEST_CASE(from_file_refuses_what_it_cannot_read)
{
    diagnostics diag;
    const std::string missing = "/nonexistent/tetrapak/envelope-keys";
    auto ring = envelope_keyring::from_file(missing, diag);
    BOOST_TEST_REQUIRE(!ring.has_value());
    BOOST_TEST(ring.error() == make_error_code(error::key_load_failed));
    BOOST_TEST(diag.client_message() == "envelope key file " + missing + ": cannot open the file");

    temp_file huge(std::string(64 * 1024 + 1, 'k'));
    BOOST_TEST(envelope_keyring::from_file(huge.path.string(), diag).error() == make_error_code(error::key_load_failed));
    BOOST_TEST(diag.client_message().find("larger than 64 KiB") != std::string_view::npos);

    temp_file empty("");
    BOOST_TEST(envelope_keyring::from_file(empty.path.string(), diag).error() ==
               make_error_code(error::config_invalid_value));
    BOOST_TEST(diag.client_message().find("no keys") != std::string_view::npos);
}

BOOST_AUTO_TEST_SUITE_END()
