#include "io/xml.h"

#include <cstdint>

namespace sightline::io {
namespace {

constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxDocument = 64u << 20;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsNameChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':' || c == '-' || c == '.' || u >= 0x80;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  Result<XmlElement> ParseDocument() {
    if (doc_.size() > kMaxDocument) return Error("document larger than 64 MiB");
    // A UTF-8 byte order mark is allowed before the prolog.
    if (doc_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    SL_RETURN_IF_ERROR(SkipMisc());
    if (AtEnd() || doc_[pos_] != '<') return Error("expected the root element");
    XmlElement root;
    SL_RETURN_IF_ERROR(ParseElement(root, 0));
    SL_RETURN_IF_ERROR(SkipMisc());
    if (!AtEnd()) return Error("content after the root element");
    return root;
  }

 private:
  bool AtEnd() const { return pos_ >= doc_.size(); }
  bool LookingAt(std::string_view s) const { return doc_.substr(pos_).starts_with(s); }

  Status Error(std::string_view what) const {
    return InvalidArgumentError("malformed XML at byte " + std::to_string(pos_) + ": " +
                                std::string(what));
  }

  void SkipSpace() {
    while (!AtEnd() && IsSpace(doc_[pos_])) ++pos_;
  }

  Status SkipPast(std::string_view terminator, std::string_view what) {
    size_t end = doc_.find(terminator, pos_);
    if (end == std::string_view::npos)
      return Error(std::string("unterminated ") + std::string(what));
    pos_ = end + terminator.size();
    return Status::Ok();
  }

  // Whitespace, comments and processing instructions (incl. <?xml ...?>).
  Status SkipMisc() {
    while (true) {
      SkipSpace();
      if (LookingAt("<?")) {
        SL_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
      } else if (LookingAt("<!--")) {
        SL_RETURN_IF_ERROR(SkipPast("-->", "comment"));
      } else if (LookingAt("<!DOCTYPE") || LookingAt("<!doctype")) {
        return Error("DOCTYPE is not allowed");
      } else {
        return Status::Ok();
      }
    }
  }

  Result<std::string> ParseName() {
    size_t start = pos_;
    while (!AtEnd() && IsNameChar(doc_[pos_])) ++pos_;
    if (pos_ == start) return Error("expected a name");
    return std::string(doc_.substr(start, pos_ - start));
  }

  static std::string LocalName(const std::string& qname) {
    size_t colon = qname.find(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }

  // Appends text up to (not including) `stop`, resolving references.
  Status ParseText(std::string& out, char stop) {
    while (!AtEnd() && doc_[pos_] != stop) {
      char c = doc_[pos_];
      if (c == '&') {
        SL_RETURN_IF_ERROR(ParseReference(out));
      } else if (c == '<') {
        return Error("'<' in attribute value");
      } else {
        out += c;
        ++pos_;
      }
    }
    return Status::Ok();
  }

  Status ParseReference(std::string& out) {
    size_t semi = doc_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return Error("bad entity reference");
    std::string_view ref = doc_.substr(pos_ + 1, semi - pos_ - 1);
    if (ref == "amp") {
      out += '&';
    } else if (ref == "lt") {
      out += '<';
    } else if (ref == "gt") {
      out += '>';
    } else if (ref == "quot") {
      out += '"';
    } else if (ref == "apos") {
      out += '\'';
    } else if (ref.size() >= 2 && ref[0] == '#') {
      uint32_t cp = 0;
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return Error("empty character reference");
      for (char d : digits) {
        uint32_t v;
        if (d >= '0' && d <= '9') {
          v = d - '0';
        } else if (hex && d >= 'a' && d <= 'f') {
          v = d - 'a' + 10;
        } else if (hex && d >= 'A' && d <= 'F') {
          v = d - 'A' + 10;
        } else {
          return Error("bad character reference");
        }
        cp = cp * (hex ? 16 : 10) + v;
        if (cp > 0x10ffff) return Error("character reference out of range");
      }
      if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return Error("invalid character reference");
      AppendUtf8(out, cp);
    } else {
      return Error("unknown entity &" + std::string(ref) + ";");
    }
    pos_ = semi + 1;
    return Status::Ok();
  }

  Status ParseElement(XmlElement& el, size_t depth) {
    if (depth >= kMaxDepth) return Error("nesting deeper than 64 levels");
    ++pos_;  // '<'
    SL_ASSIGN_OR_RETURN(std::string qname, ParseName());
    el.name = LocalName(qname);
    // Attributes.
    while (true) {
      size_t before = pos_;
      SkipSpace();
      if (AtEnd()) return Error("unterminated start tag");
      if (LookingAt("/>")) {
        pos_ += 2;
        return Status::Ok();
      }
      if (doc_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (pos_ == before) return Error("expected whitespace before an attribute");
      SL_ASSIGN_OR_RETURN(std::string attr, ParseName());
      SkipSpace();
      if (AtEnd() || doc_[pos_] != '=') return Error("expected '=' after attribute name");
      ++pos_;
      SkipSpace();
      if (AtEnd() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        return Error("expected a quoted attribute value");
      }
      char quote = doc_[pos_++];
      std::string value;
      SL_RETURN_IF_ERROR(ParseText(value, quote));
      if (AtEnd()) return Error("unterminated attribute value");
      ++pos_;
      el.attributes.emplace_back(std::move(attr), std::move(value));
    }
    // Content.
    while (true) {
      if (AtEnd()) return Error("unterminated element <" + qname + ">");
      char c = doc_[pos_];
      if (c == '&') {
        SL_RETURN_IF_ERROR(ParseReference(el.text));
      } else if (c != '<') {
        el.text += c;
        ++pos_;
      } else if (LookingAt("</")) {
        pos_ += 2;
        SL_ASSIGN_OR_RETURN(std::string end_name, ParseName());
        if (end_name != qname) {
          return Error("</" + end_name + "> does not close <" + qname + ">");
        }
        SkipSpace();
        if (AtEnd() || doc_[pos_] != '>') return Error("unterminated end tag");
        ++pos_;
        return Status::Ok();
      } else if (LookingAt("<![CDATA[")) {
        size_t start = pos_ + 9;
        size_t end = doc_.find("]]>", start);
        if (end == std::string_view::npos) return Error("unterminated CDATA section");
        el.text.append(doc_.substr(start, end - start));
        pos_ = end + 3;
      } else if (LookingAt("<!--")) {
        SL_RETURN_IF_ERROR(SkipPast("-->", "comment"));
      } else if (LookingAt("<?")) {
        SL_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
      } else if (LookingAt("<!")) {
        return Error("unexpected markup declaration");
      } else {
        el.children.emplace_back();
        SL_RETURN_IF_ERROR(ParseElement(el.children.back(), depth + 1));
      }
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c ? c->text : std::string();
}

Result<XmlElement> ParseXml(std::string_view document) { return Parser(document).ParseDocument(); }

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace sightline::io
