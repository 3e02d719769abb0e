// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "envelope.hpp"

#include "../detail/diag.hpp"
#include "../detail/text.hpp"

#include <tetrapak/error.hpp>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <stdexcept>

namespace tetrapak::detail {
namespace {

using access = diagnostics_access;

constexpr std::size_t header_fixed_size = 2; // version, key id length
constexpr std::size_t max_key_file_size = 64 * 1024;
constexpr std::size_t key_base64_size = 44; // 32 bytes: 43 characters and one '='
// OpenSSL counts lengths in int: longer inputs go in pieces of this size.
constexpr std::size_t max_cipher_piece = std::size_t{1} << 30;

struct cipher_ctx_free {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

[[noreturn]] void openssl_failed(const char* step)
{
    ERR_clear_error();
    std::string m = "AES-256-GCM envelope: OpenSSL failed to ";
    m += step;
    throw std::runtime_error(m);
}

const unsigned char* bytes_of(std::string_view s) noexcept
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

// EVP_CipherUpdate over input of any length; with out == nullptr, `in` is
// additional authenticated data. GCM writes exactly as much as it reads.
void cipher_update(EVP_CIPHER_CTX* ctx, unsigned char* out, std::string_view in)
{
    while (!in.empty()) {
        std::size_t n = std::min(in.size(), max_cipher_piece);
        int written = 0;
        if (EVP_CipherUpdate(ctx, out, &written, bytes_of(in), static_cast<int>(n)) != 1)
            openssl_failed("process the data");
        if (out)
            out += written;
        in.remove_prefix(n);
    }
}

// AES-256-GCM, fetched from the provider once per process: EVP_aes_256_gcm()
// makes every EVP_CipherInit_ex look the implementation up again.
const EVP_CIPHER* aes_256_gcm() noexcept
{
    static const EVP_CIPHER* const cipher = [] {
        const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
        return c ? c : EVP_aes_256_gcm();
    }();
    return cipher;
}

// A context keyed for one envelope, its additional data (`aad` then the
// header) already absorbed. encrypt: 1 to seal, 0 to open.
cipher_ctx_ptr start_gcm(const envelope_key& key, const unsigned char* nonce, int encrypt, std::string_view aad,
                         std::string_view header)
{
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx)
        throw std::bad_alloc();
    // 12 bytes is GCM's default IV length: no EVP_CTRL_GCM_SET_IVLEN needed.
    if (EVP_CipherInit_ex(ctx.get(), aes_256_gcm(), nullptr, key.bytes.data(), nonce, encrypt) != 1)
        openssl_failed("start");
    // Why `aad` first is unambiguous: the header can be told from the end of
    // the additional data alone, since no id contains byte 1 (the version).
    cipher_update(ctx.get(), nullptr, aad);
    cipher_update(ctx.get(), nullptr, header);
    return ctx;
}

struct envelope_parts {
    std::string_view header, key_id, nonce, ciphertext, tag;
};

std::optional<envelope_parts> split_envelope(std::string_view env) noexcept
{
    if (env.size() < header_fixed_size || static_cast<unsigned char>(env[0]) != envelope_version)
        return std::nullopt;
    std::size_t header_size = header_fixed_size + static_cast<unsigned char>(env[1]);
    if (env.size() < header_size + envelope_nonce_size + envelope_tag_size)
        return std::nullopt;
    envelope_parts p;
    p.header = env.substr(0, header_size);
    p.key_id = p.header.substr(header_fixed_size);
    if (!valid_envelope_key_id(p.key_id))
        return std::nullopt;
    p.nonce = env.substr(header_size, envelope_nonce_size);
    std::size_t body = header_size + envelope_nonce_size;
    p.ciphertext = env.substr(body, env.size() - body - envelope_tag_size);
    p.tag = env.substr(env.size() - envelope_tag_size);
    return p;
}

// Why: the text of a key file is key material, even where it does not parse.
struct wiped_on_exit {
    std::string& text;
    ~wiped_on_exit() { OPENSSL_cleanse(text.data(), text.size()); }
};

std::string key_label(std::size_t index)
{
    std::string m = "envelope key ring, key ";
    m += std::to_string(index + 1);
    return m;
}

// What is wrong with `keys` as a ring, or "" when nothing is. Keys are named
// by position: a mistyped id may be key material pasted in the wrong place.
std::string ring_problem(const std::vector<envelope_key>& keys)
{
    if (keys.empty())
        return "envelope key ring: no keys (expected id:base64key[,id:base64key...])";
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!valid_envelope_key_id(keys[i].id))
            return key_label(i) + ": the id must be 1 to 64 characters of A-Z a-z 0-9 . _ -";
        for (std::size_t j = 0; j < i; ++j)
            if (keys[j].id == keys[i].id)
                return key_label(i) + ": the same id as key " + std::to_string(j + 1);
    }
    return {};
}

bool is_base64_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Decodes standard base64 (RFC 4648 §4, padded) of exactly 32 bytes into
// `out`; otherwise returns the problem, which never quotes the text.
std::string decode_key(std::string_view b64, std::array<unsigned char, envelope_key_size>& out)
{
    std::size_t data_chars = b64.find('=');
    if (data_chars == std::string_view::npos)
        data_chars = b64.size();
    std::size_t pad = b64.size() - data_chars;
    bool well_formed = !b64.empty() && b64.size() % 4 == 0 && pad <= 2 &&
                       std::all_of(b64.begin(), b64.begin() + data_chars, is_base64_char) &&
                       b64.find_first_not_of('=', data_chars) == std::string_view::npos;
    if (!well_formed)
        return b64.find(':') != std::string_view::npos
                   ? ": more than one ':' in the entry (is a ',' missing between entries?)"
                   : ": the key is not standard base64 (44 characters ending in '=', e.g. from `openssl rand -base64 32`)";
    std::size_t length = b64.size() / 4 * 3 - pad;
    if (length != envelope_key_size) {
        std::string m = ": the key is ";
        m += std::to_string(length);
        return m + " bytes; AES-256 needs exactly 32";
    }
    std::array<unsigned char, key_base64_size / 4 * 3> decoded{};
    int n = EVP_DecodeBlock(decoded.data(), bytes_of(b64), static_cast<int>(b64.size()));
    std::string problem;
    if (n != static_cast<int>(decoded.size()))
        problem = ": the key is not standard base64";
    else
        std::copy_n(decoded.begin(), out.size(), out.begin());
    OPENSSL_cleanse(decoded.data(), decoded.size());
    return problem;
}

// Reads one `id:base64key` entry (already trimmed) into `key`; returns the
// problem, or "". The id is checked later, with the ring.
std::string read_entry(std::string_view entry, envelope_key& key)
{
    if (entry.empty())
        return ": empty (a stray ',')";
    std::size_t colon = entry.find(':');
    if (colon == std::string_view::npos)
        return ": no ':' between the key id and the key";
    key.id.assign(trim(entry.substr(0, colon)));
    return decode_key(trim(entry.substr(colon + 1)), key.bytes);
}

// Reads the entries of `spec` into `keys`; returns the first problem, or "".
// A blank spec gives no keys, which ring_problem reports.
std::string read_entries(std::string_view spec, std::vector<envelope_key>& keys)
{
    if (trim(spec).empty())
        return {};
    for (;;) {
        std::size_t comma = spec.find(',');
        if (auto problem = read_entry(trim(spec.substr(0, comma)), keys.emplace_back()); !problem.empty())
            return key_label(keys.size() - 1) + problem;
        if (comma == std::string_view::npos)
            return {};
        spec.remove_prefix(comma + 1);
    }
}

} // namespace

envelope_key::~envelope_key()
{
    OPENSSL_cleanse(bytes.data(), bytes.size());
}

bool valid_envelope_key_id(std::string_view id) noexcept
{
    auto allowed = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    };
    return !id.empty() && id.size() <= max_envelope_key_id && std::all_of(id.begin(), id.end(), allowed);
}

envelope_keyring::envelope_keyring(std::vector<envelope_key> keys) : keys_(std::move(keys))
{
    if (auto problem = ring_problem(keys_); !problem.empty())
        throw std::invalid_argument(problem);
}

boost::system::result<envelope_keyring> envelope_keyring::from_text(std::string_view spec, diagnostics& diag)
{
    std::vector<envelope_key> keys;
    std::string problem = read_entries(spec, keys);
    if (problem.empty())
        problem = ring_problem(keys);
    if (!problem.empty())
        return fail_with<envelope_keyring>(diag, error::config_invalid_value, problem);
    return envelope_keyring(std::move(keys));
}

boost::system::result<envelope_keyring> envelope_keyring::from_file(const std::string& path, diagnostics& diag)
{
    std::string about = "envelope key file ";
    about += path;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail_with<envelope_keyring>(diag, error::key_load_failed, about + ": cannot open the file");
    std::string text(max_key_file_size + 1, '\0');
    wiped_on_exit wipe{text};
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad())
        return fail_with<envelope_keyring>(diag, error::key_load_failed, about + ": cannot read the file");
    if (text.size() > max_key_file_size)
        return fail_with<envelope_keyring>(diag, error::key_load_failed, about + ": larger than 64 KiB, not a key ring");
    auto ring = from_text(text, diag);
    if (!ring) // from_text's message, told which file it is about
        access::client_message(diag) = about + " (" + std::string(diag.client_message()) + ")";
    return ring;
}

const envelope_key* envelope_keyring::find(std::string_view id) const noexcept
{
    auto it = std::find_if(keys_.begin(), keys_.end(), [id](const envelope_key& k) { return k.id == id; });
    return it == keys_.end() ? nullptr : &*it;
}

std::string seal(const envelope_keyring& ring, std::string_view plaintext, std::string_view aad)
{
    envelope_nonce nonce;
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
        openssl_failed("make a random nonce (no entropy source?)");
    return seal_with_nonce(ring, plaintext, aad, nonce);
}

std::string seal_with_nonce(const envelope_keyring& ring, std::string_view plaintext, std::string_view aad,
                            const envelope_nonce& nonce)
{
    const envelope_key& key = ring.current();
    std::string env;
    std::size_t header_size = header_fixed_size + key.id.size();
    std::size_t body = header_size + nonce.size();
    env.reserve(body + plaintext.size() + envelope_tag_size);
    env += static_cast<char>(envelope_version);
    env += static_cast<char>(key.id.size());
    env += key.id;
    env.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
    env.resize(body + plaintext.size() + envelope_tag_size);

    auto ctx = start_gcm(key, nonce.data(), 1, aad, std::string_view(env).substr(0, header_size));
    auto* out = reinterpret_cast<unsigned char*>(env.data()) + body;
    cipher_update(ctx.get(), out, plaintext);
    unsigned char* tag = out + plaintext.size();
    int final_size = 0;
    if (EVP_CipherFinal_ex(ctx.get(), tag, &final_size) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(envelope_tag_size), tag) != 1)
        openssl_failed("finish sealing");
    return env;
}

std::string_view name_of(open_failure f) noexcept
{
    switch (f) {
    case open_failure::malformed:
        return "malformed";
    case open_failure::unknown_key:
        return "unknown_key";
    case open_failure::not_authentic:
        return "not_authentic";
    }
    return "unknown open_failure";
}

std::ostream& operator<<(std::ostream& os, open_failure f)
{
    return os << name_of(f);
}

open_result open(const envelope_keyring& ring, std::string_view envelope, std::string_view aad)
{
    auto parts = split_envelope(envelope);
    if (!parts)
        return open_failure::malformed;
    const envelope_key* key = ring.find(parts->key_id);
    if (!key)
        return open_failure::unknown_key;

    auto ctx = start_gcm(*key, bytes_of(parts->nonce), 0, aad, parts->header);
    std::string plaintext(parts->ciphertext.size(), '\0');
    cipher_update(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), parts->ciphertext);
    std::array<unsigned char, envelope_tag_size> tag; // the control takes a non-const pointer
    std::copy_n(bytes_of(parts->tag), tag.size(), tag.begin());
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()), tag.data()) != 1)
        openssl_failed("set the tag");
    std::array<unsigned char, envelope_tag_size> no_output;
    int final_size = 0;
    if (EVP_CipherFinal_ex(ctx.get(), no_output.data(), &final_size) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(plaintext.data(), plaintext.size()); // unauthenticated: never handed out
        return open_failure::not_authentic;
    }
    return plaintext;
}

} // namespace tetrapak::detail
