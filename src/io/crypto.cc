#include "io/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

namespace sightline::io {
namespace {

// EVP calls only fail on allocation failure or a broken OpenSSL build: there
// is nothing sensible to return, and a wrong digest would corrupt data.
void Check(int ok) {
  if (ok != 1) std::abort();
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx NewCtx(const EVP_MD* md) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) std::abort();
  Check(EVP_DigestInit_ex(ctx.get(), md, nullptr));
  return ctx;
}

template <size_t N>
std::array<uint8_t, N> FinishCtx(EVP_MD_CTX* ctx) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  Check(EVP_DigestFinal_ex(ctx, out.data(), &len));
  if (len != N) std::abort();
  return out;
}

}  // namespace

Md5Digest Md5(std::string_view data) {
  MdCtx ctx = NewCtx(EVP_md5());
  Check(EVP_DigestUpdate(ctx.get(), data.data(), data.size()));
  return FinishCtx<16>(ctx.get());
}

Sha256Digest Sha256(std::string_view data) {
  MdCtx ctx = NewCtx(EVP_sha256());
  Check(EVP_DigestUpdate(ctx.get(), data.data(), data.size()));
  return FinishCtx<32>(ctx.get());
}

Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

std::string HexEncode(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string Base64Encode(const uint8_t* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == size) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == size) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

struct StreamingHasher::Impl {
  MdCtx md5 = NewCtx(EVP_md5());
  MdCtx sha = NewCtx(EVP_sha256());
};

StreamingHasher::StreamingHasher() : impl_(std::make_unique<Impl>()) {}
StreamingHasher::~StreamingHasher() = default;

void StreamingHasher::Update(std::string_view data) {
  Check(EVP_DigestUpdate(impl_->md5.get(), data.data(), data.size()));
  Check(EVP_DigestUpdate(impl_->sha.get(), data.data(), data.size()));
}

void StreamingHasher::Finish(Md5Digest* md5, Sha256Digest* sha256) {
  *md5 = FinishCtx<16>(impl_->md5.get());
  *sha256 = FinishCtx<32>(impl_->sha.get());
}

struct Md5Hasher::Impl {
  MdCtx md5 = NewCtx(EVP_md5());
};

Md5Hasher::Md5Hasher() : impl_(std::make_unique<Impl>()) {}
Md5Hasher::~Md5Hasher() = default;
void Md5Hasher::Update(std::string_view data) {
  Check(EVP_DigestUpdate(impl_->md5.get(), data.data(), data.size()));
}
Md5Digest Md5Hasher::Finish() { return FinishCtx<16>(impl_->md5.get()); }

}  // namespace sightline::io
