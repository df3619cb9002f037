// JSON values by schema, one byte at a time (call_grammar.h): a stack of frames, each a value
// still to start, a string, a number, a literal (enum value, true/false/null), an object or an
// array; and the bytes each frame still needs at the least (completion_length).
//
// A number or a literal whose word may go on (1 of the enum [1, 10]) ends when a byte arrives
// that cannot continue it: the frame is popped and the byte goes to the frame below.
#include <algorithm>
#include <limits>

#include "edgetune/eval/call_grammar.h"

namespace et {

namespace {

constexpr int64_t kFar = std::numeric_limits<int32_t>::max() / 4;

enum NumberPhase : uint8_t { n_start, n_sign, n_zero, n_int, n_dot, n_frac, n_e, n_esign, n_exp };
constexpr int kMaxDigits = 15, kMaxExponent = 2;

bool number_done(uint8_t phase) { return phase == n_zero || phase == n_int || phase == n_frac || phase == n_exp; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

// "<tool_call>" and "</tool_call>" inside a string: the bytes matched of each, packed in a flag.
bool string_tag_step(uint8_t& flag, uint8_t b) {
  static const char open[] = "<tool_call>", close[] = "</tool_call>";
  int p1 = flag & 15, p2 = flag >> 4;
  p1 = b == static_cast<uint8_t>(open[p1]) ? p1 + 1 : (b == '<' ? 1 : 0);
  p2 = b == static_cast<uint8_t>(close[p2]) ? p2 + 1 : (b == '<' ? 1 : 0);
  if (p1 == 11 || p2 == 12) return false;
  flag = static_cast<uint8_t>(p1 | (p2 << 4));
  return true;
}

}  // namespace

int64_t CallGrammar::rest_cost(const SchemaNode& n, uint64_t missing) const {
  int64_t c = 0;
  for (uint64_t m = missing; m; m &= m - 1) c += n.key_cost[static_cast<size_t>(__builtin_ctzll(m))] + 1;
  return c;
}

bool CallGrammar::start_value(CallState& s, JsonFrame& f, uint8_t b, bool& redispatch) const {
  (void)s;
  const SchemaNode& n = nodes_[static_cast<size_t>(f.node)];
  redispatch = false;
  if (n.enum_trie >= 0) {
    f.kind = JsonFrame::literal;
    f.node = n.enum_trie;
    f.aux = 0;
    redispatch = true;
    return true;
  }
  if (b == '"' && (n.types & SchemaNode::string)) {
    f.kind = JsonFrame::string;
    f.phase = 0;
    f.flag = 0;
    return true;
  }
  if ((b == '-' || is_digit(b)) && (n.types & (SchemaNode::integer | SchemaNode::number))) {
    f.kind = JsonFrame::number;
    f.phase = n_start;
    f.aux = 0;
    f.flag = (n.types & SchemaNode::number) ? 0 : 1;
    redispatch = true;
    return true;
  }
  if (b == '{' && (n.types & SchemaNode::object)) {
    f.kind = JsonFrame::object;
    f.phase = 0;
    f.ws = 0;
    f.seen = 0;
    return true;
  }
  if (b == '[' && (n.types & SchemaNode::array)) {
    f.kind = JsonFrame::array;
    f.phase = 0;
    f.ws = 0;
    f.aux = 0;
    return true;
  }
  if (((b == 't' || b == 'f') && (n.types & SchemaNode::boolean)) || (b == 'n' && (n.types & SchemaNode::null))) {
    f.kind = JsonFrame::literal;
    f.node = b == 'n' ? null_trie_ : bool_trie_;
    f.aux = 0;
    redispatch = true;
    return true;
  }
  return false;
}

bool CallGrammar::advance_json(CallState& s, uint8_t b) const {
  auto push = [&](JsonFrame::Kind kind, int32_t node) {
    if (s.depth >= CallState::kMaxDepth) return false;
    JsonFrame f;
    f.kind = kind;
    f.node = node;
    s.frames[static_cast<size_t>(s.depth++)] = f;
    return true;
  };
  auto pop = [&] {
    --s.depth;
    settle(s);
  };
  for (;;) {
    if (s.depth == 0) return advance_call(s, b);
    JsonFrame& f = s.frames[static_cast<size_t>(s.depth - 1)];
    switch (f.kind) {
      case JsonFrame::value: {
        if (b == ' ' && !f.ws) {
          f.ws = 1;
          return true;
        }
        bool again = false;
        if (!start_value(s, f, b, again)) return false;
        if (!again) return true;
        continue;
      }
      case JsonFrame::string:
        if (f.phase == 1) {
          switch (b) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
              f.phase = 0;
              f.flag = 0;
              return true;
            default: return false;
          }
        }
        if (b == '"') {
          pop();
          return true;
        }
        if (b == '\\') {
          f.phase = 1;
          return true;
        }
        if (b < 0x20) return false;
        return string_tag_step(f.flag, b);
      case JsonFrame::number: {
        const bool ints = f.flag != 0;
        switch (f.phase) {
          case n_start:
          case n_sign:
            if (b == '-' && f.phase == n_start) f.phase = n_sign;
            else if (b == '0') f.phase = n_zero;
            else if (is_digit(b)) f.phase = n_int, f.aux = 1;
            else return false;
            return true;
          case n_zero:
          case n_int:
            if (is_digit(b) && f.phase == n_int && f.aux < kMaxDigits) {
              ++f.aux;
              return true;
            }
            if (!ints && b == '.') {
              f.phase = n_dot;
              return true;
            }
            if (!ints && (b == 'e' || b == 'E')) {
              f.phase = n_e;
              return true;
            }
            break;  // the number ended before b
          case n_dot:
            if (!is_digit(b)) return false;
            f.phase = n_frac;
            f.aux = 1;
            return true;
          case n_frac:
            if (is_digit(b) && f.aux < kMaxDigits) {
              ++f.aux;
              return true;
            }
            if (b == 'e' || b == 'E') {
              f.phase = n_e;
              return true;
            }
            break;
          case n_e:
          case n_esign:
            if ((b == '+' || b == '-') && f.phase == n_e) {
              f.phase = n_esign;
              return true;
            }
            if (!is_digit(b)) return false;
            f.phase = n_exp;
            f.aux = 1;
            return true;
          case n_exp:
            if (is_digit(b) && f.aux < kMaxExponent) {
              ++f.aux;
              return true;
            }
            break;
        }
        pop();
        continue;
      }
      case JsonFrame::literal: {
        const LiteralTrie& t = tries_[static_cast<size_t>(f.node)];
        const int32_t c = t.child(f.aux, b);
        if (c >= 0) {
          f.aux = c;
          const auto& n = t.nodes[static_cast<size_t>(c)];
          if (n.word >= 0 && n.children.empty()) pop();
          return true;
        }
        if (t.nodes[static_cast<size_t>(f.aux)].word < 0) return false;
        pop();  // the word ended before b
        continue;
      }
      case JsonFrame::object: {
        const SchemaNode& n = nodes_[static_cast<size_t>(f.node)];
        const bool keyed = n.keys >= 0;
        switch (f.phase) {
          case 0:
          case 5: {
            if (b == ' ' && !f.ws) {
              f.ws = 1;
              return true;
            }
            if (b == '}' && f.phase == 0 && (n.required & ~f.seen) == 0) {
              pop();
              return true;
            }
            if (b != '"') return false;
            f.ws = 0;
            if (!keyed) {
              f.phase = 2;
              return push(JsonFrame::string, 0);
            }
            const LiteralTrie& t = tries_[static_cast<size_t>(n.keys)];
            const int32_t c = t.child(0, b);
            if (c < 0 || (t.nodes[static_cast<size_t>(c)].words & ~f.seen) == 0) return false;
            f.phase = 1;
            f.aux = c;
            return true;
          }
          case 1: {
            const LiteralTrie& t = tries_[static_cast<size_t>(n.keys)];
            const int32_t c = t.child(f.aux, b);
            if (c < 0 || (t.nodes[static_cast<size_t>(c)].words & ~f.seen) == 0) return false;
            f.aux = c;
            const int32_t word = t.nodes[static_cast<size_t>(c)].word;
            if (word >= 0) {
              f.seen |= 1ull << word;
              f.aux = word;
              f.phase = 2;
              f.ws = 0;
            }
            return true;
          }
          case 2:
            if (b == ' ' && !f.ws) {
              f.ws = 1;
              return true;
            }
            if (b != ':') return false;
            f.phase = 4;
            f.ws = 0;
            return push(JsonFrame::value, keyed ? n.props[static_cast<size_t>(f.aux)] : 0);
          default:  // 4: after a value
            if (b == ' ' && !f.ws) {
              f.ws = 1;
              return true;
            }
            if (b == ',' && (!keyed || (n.all & ~f.seen) != 0)) {
              f.phase = 5;
              f.ws = 0;
              return true;
            }
            if (b == '}' && (n.required & ~f.seen) == 0) {
              pop();
              return true;
            }
            return false;
        }
      }
      case JsonFrame::array: {
        const int32_t items = nodes_[static_cast<size_t>(f.node)].items;
        if (f.phase == 1) {
          if (b == ' ' && !f.ws) {
            f.ws = 1;
            return true;
          }
          if (b == ',') {
            f.phase = 2;
            return true;
          }
          if (b != ']') return false;
          pop();
          return true;
        }
        if (f.phase == 0 && b == ']') {
          pop();
          return true;
        }
        f.phase = 1;
        f.ws = 0;
        if (!push(JsonFrame::value, items)) return false;
        continue;
      }
    }
    return false;
  }
}

int64_t CallGrammar::frame_cost(const JsonFrame& f) const {
  switch (f.kind) {
    case JsonFrame::value: return nodes_[static_cast<size_t>(f.node)].min_len;
    case JsonFrame::string: return f.phase == 1 ? 2 : 1;
    case JsonFrame::number: return number_done(f.phase) ? 0 : 1;
    case JsonFrame::literal: return tries_[static_cast<size_t>(f.node)].nodes[static_cast<size_t>(f.aux)].nearest;
    case JsonFrame::object: {
      const SchemaNode& n = nodes_[static_cast<size_t>(f.node)];
      const bool keyed = n.keys >= 0;
      const uint64_t missing = n.required & ~f.seen;
      switch (f.phase) {
        case 0: return missing ? rest_cost(n, missing) : 1;
        case 5: {
          if (missing) return rest_cost(n, missing);
          if (!keyed) return 5;  // "":0}
          int64_t best = kFar;
          for (uint64_t m = n.all & ~f.seen; m; m &= m - 1)
            best = std::min<int64_t>(best, n.key_cost[static_cast<size_t>(__builtin_ctzll(m))] + 1);
          return best;
        }
        case 1: {
          const LiteralTrie& t = tries_[static_cast<size_t>(n.keys)];
          const auto& node = t.nodes[static_cast<size_t>(f.aux)];
          int64_t best = kFar;
          for (uint64_t m = node.words & ~f.seen; m; m &= m - 1) {
            const int k = __builtin_ctzll(m);
            best = std::min<int64_t>(best, n.key_cost[static_cast<size_t>(k)] - node.depth +
                                               rest_cost(n, missing & ~(1ull << k)) + 1);
          }
          return best;
        }
        case 2: return keyed ? 1 + nodes_[static_cast<size_t>(n.props[static_cast<size_t>(f.aux)])].min_len + rest_cost(n, missing) + 1 : 3;
        default: return rest_cost(n, missing) + 1;
      }
    }
    case JsonFrame::array:
      return f.phase == 2 ? nodes_[static_cast<size_t>(nodes_[static_cast<size_t>(f.node)].items)].min_len + 1 : 1;
  }
  return 0;
}

}  // namespace et
