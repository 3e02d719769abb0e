// Copyright (c) 2026 tetrapak-asio developers. Distributed under the Boost Software License 1.0.
#include "assertion_source.hpp"

#include <tetrapak/error.hpp>
#include <tetrapak/protocol.hpp>
#include <tetrapak/signing_key.hpp>

#include "detail/diag.hpp"
#include "detail/jws.hpp"
#include "detail/text.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>

namespace tetrapak::detail {
namespace {

using boost::system::error_code;
using sys_time = std::chrono::system_clock::time_point;

/// A platform token is 1-2 KiB; anything near this is not one.
constexpr std::size_t max_assertion_file_size = 64 * 1024;
/// Longest text of a callback's exception kept in diagnostics.
constexpr std::size_t max_callback_text = 200;

/// What tells one version of a file from the next without reading it.
struct file_identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    friend bool operator==(const file_identity&, const file_identity&) = default;
};

file_identity identity_of(const struct stat& st) noexcept
{
    return {st.st_dev, st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

/// The last good copy of each assertion file, by path. Bounded: a process
/// names a handful of files; beyond the bound the least recently used goes.
class assertion_file_memo {
public:
    std::optional<std::string> find(const std::string& path, const file_identity& id, sys_time now)
    {
        std::lock_guard lock(mtx_);
        auto it = map_.find(path);
        if (it == map_.end() || !(it->second.id == id))
            return std::nullopt;
        auto& e = it->second;
        if (e.exp && *e.exp <= now + assertion_reread_window)
            return std::nullopt; // maybe rotated within the file system's time granularity
        e.used = ++clock_;
        return e.jwt;
    }

    void store(const std::string& path, const file_identity& id, const std::string& jwt, std::optional<sys_time> exp)
    {
        std::lock_guard lock(mtx_);
        if (map_.size() >= max_files && !map_.count(path)) {
            auto oldest = map_.begin();
            for (auto it = map_.begin(); it != map_.end(); ++it)
                if (it->second.used < oldest->second.used)
                    oldest = it;
            map_.erase(oldest);
        }
        map_.insert_or_assign(path, entry{id, jwt, exp, ++clock_});
    }

    void forget(const std::string& path)
    {
        std::lock_guard lock(mtx_);
        map_.erase(path);
    }

private:
    static constexpr std::size_t max_files = 64;
    struct entry {
        file_identity id;
        std::string jwt;
        std::optional<sys_time> exp;
        std::uint64_t used = 0;
    };
    std::mutex mtx_;
    std::unordered_map<std::string, entry> map_;
    std::uint64_t clock_ = 0;
};

assertion_file_memo& file_memo()
{
    static assertion_file_memo memo;
    return memo;
}

/// "not found (ENOENT)": what the user checks, and the errno to search for.
std::string errno_reason(int err)
{
    struct known {
        int value;
        const char* text;
    };
    static constexpr known table[] = {
        {ENOENT, "not found (ENOENT)"},
        {EACCES, "permission denied (EACCES)"},
        {EPERM, "operation not permitted (EPERM)"},
        {ENOTDIR, "a component of the path is not a directory (ENOTDIR)"},
        {EISDIR, "is a directory (EISDIR)"},
        {ELOOP, "too many levels of symbolic links (ELOOP)"},
        {ENAMETOOLONG, "the path is too long (ENAMETOOLONG)"},
        {EMFILE, "the process has too many open files (EMFILE)"},
        {ENFILE, "the system has too many open files (ENFILE)"},
        {EIO, "input/output error (EIO)"},
    };
    for (const auto& k : table)
        if (k.value == err)
            return k.text;
    std::string out = std::generic_category().message(err);
    out += " (errno ";
    out += std::to_string(err);
    out += ')';
    return out;
}

bool is_base64url(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/// Why `jwt` (already trimmed) cannot be sent as an assertion; "" when it can.
/// Sets `exp` from a valid JWT's claims.
std::string_view jwt_problem(std::string_view jwt, std::optional<sys_time>& exp)
{
    if (jwt.empty())
        return "empty";
    std::size_t dots = 0;
    for (char c : jwt) {
        if (c == '.')
            ++dots;
        else if (!is_base64url(c))
            return "not a JWT (a compact JWS is three base64url parts separated by dots)";
    }
    if (dots != 2)
        return "not a JWT (a compact JWS is three base64url parts separated by dots)";
    if (jwt.back() == '.')
        return "not a signed JWT (the signature part is empty)";
    auto claims = decode_jwt_payload(jwt);
    if (!claims)
        return "not a JWT (its header or payload is not base64url-encoded JSON)";
    exp = jwt_expiry(*claims);
    return {};
}

boost::system::result<std::string> unavailable(diagnostics& diag, std::string_view source, std::string_view reason)
{
    std::string& m = diagnostics_access::client_message(diag);
    m.assign(source);
    m += ": ";
    m += reason;
    return error_code(error::client_assertion_unavailable);
}

/// Fails with client_assertion_expired when `exp` is within the send margin of `now`.
error_code check_expiry(std::optional<sys_time> exp, sys_time now, std::string_view source, diagnostics& diag)
{
    if (!exp || *exp > now + assertion_send_margin)
        return {};
    std::string& m = diagnostics_access::client_message(diag);
    m.assign(source);
    if (*exp <= now) {
        m += ": expired ";
        m += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - *exp).count());
        m += " s ago";
    } else {
        m += ": expires in ";
        m += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*exp - now).count());
        m += " s, too close to send (margin ";
        m += std::to_string(assertion_send_margin.count());
        m += " s)";
    }
    return error::client_assertion_expired;
}

/// Reads a regular file of at most max_assertion_file_size bytes; "" and a reason on failure.
std::string read_small_file(const std::string& path, std::string& reason)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        reason = errno_reason(errno);
        return {};
    }
    std::string content;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            reason = errno_reason(errno);
            content.clear();
            break;
        }
        if (n == 0)
            break;
        content.append(buf, static_cast<std::size_t>(n));
        if (content.size() > max_assertion_file_size) {
            reason = "larger than 64 KiB: not a JWT";
            content.clear();
            break;
        }
    }
    ::close(fd);
    return content;
}

/// How diagnostics name a file (built only on failure: the hot path is one stat()).
std::string file_source(std::string_view role, const std::string& path)
{
    std::string source(role);
    source += " file ";
    source += path;
    return source;
}

boost::system::result<std::string> from_file(std::string_view role, const std::string& path, sys_time now,
                                             diagnostics& diag)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        file_memo().forget(path);
        return unavailable(diag, file_source(role, path), errno_reason(err));
    }
    if (!S_ISREG(st.st_mode)) {
        file_memo().forget(path);
        return unavailable(diag, file_source(role, path), "not a regular file");
    }
    const file_identity id = identity_of(st);
    if (auto remembered = file_memo().find(path, id, now))
        return std::move(*remembered);

    const std::string source = file_source(role, path);
    std::string reason;
    std::string content = read_small_file(path, reason);
    std::optional<sys_time> exp;
    std::string_view jwt = trim(content);
    if (reason.empty())
        reason = jwt_problem(jwt, exp);
    if (!reason.empty()) {
        file_memo().forget(path);
        return unavailable(diag, source, reason);
    }
    if (auto ec = check_expiry(exp, now, source, diag)) {
        file_memo().forget(path);
        return ec;
    }
    // The identity seen before the read: a file replaced in between is only read once more next time.
    std::string out(jwt);
    file_memo().store(path, id, out, exp);
    return out;
}

/// An exception's text fit for diagnostics: anything that looks like a token
/// (a long base64url run, or one starting like a JWT) replaced, control
/// characters blanked, at most max_callback_text characters.
std::string callback_error_text(std::string_view what)
{
    std::string out;
    std::size_t i = 0;
    while (i < what.size() && out.size() < max_callback_text) {
        std::size_t j = i;
        while (j < what.size() && (is_base64url(what[j]) || what[j] == '.'))
            ++j;
        if (j > i) {
            std::string_view run = what.substr(i, j - i);
            const bool token_like = run.size() >= 32 || (run.size() >= 8 && run.substr(0, 3) == "eyJ");
            out += token_like ? std::string_view("<redacted>") : run;
            i = j;
            continue;
        }
        const auto c = static_cast<unsigned char>(what[i++]);
        out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
    }
    if (out.size() > max_callback_text)
        out.resize(max_callback_text);
    return out;
}

boost::system::result<std::string> from_callback(std::string_view role, const std::function<std::string()>& callback,
                                                 sys_time now, diagnostics& diag)
{
    std::string source(role);
    source += " callback";
    std::string value;
    try {
        value = callback();
    } catch (const std::exception& e) {
        std::string reason = "threw: ";
        reason += callback_error_text(e.what());
        return unavailable(diag, source, reason);
    } catch (...) {
        return unavailable(diag, source, "threw an exception that is not a std::exception");
    }
    std::optional<sys_time> exp;
    std::string_view jwt = trim(value);
    if (auto problem = jwt_problem(jwt, exp); !problem.empty())
        return unavailable(diag, source, problem);
    if (auto ec = check_expiry(exp, now, source, diag))
        return ec;
    return std::string(jwt);
}

} // namespace

boost::system::result<std::string> read_external_assertion(const external_assertion& src, sys_time now,
                                                           diagnostics& diag, std::string_view role)
{
    if (!src.file.empty())
        return from_file(role, src.file, now, diag);
    if (src.callback)
        return from_callback(role, src.callback, now, diag);
    return unavailable(diag, role, "neither a file nor a callback is configured");
}

boost::system::result<std::string> sign_grant_assertion(const signing_key& key, const grant_assertion_claims& c)
{
    boost::json::object header{{"alg", key.algorithm()}, {"typ", "JWT"}};
    if (!key.key_id().empty())
        header["kid"] = key.key_id();
    const auto iat = std::chrono::duration_cast<std::chrono::seconds>(c.now.time_since_epoch()).count();
    const boost::json::object claims{{"iss", c.issuer},         {"sub", c.subject}, {"aud", c.audience},
                                     {"jti", jws::random_jti()}, {"iat", iat},       {"exp", iat + c.lifetime.count()}};
    std::string input = jws::signing_input(boost::json::serialize(header), boost::json::serialize(claims));
    auto signature = key.sign(input);
    if (!signature)
        return signature.error();
    return jws::compact(std::move(input), *signature);
}

} // namespace tetrapak::detail
