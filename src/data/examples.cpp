// Tokenization with the loss mask, packing, seeded shuffling and batching.
#include "edgetune/data/examples.h"

#include <algorithm>

#include "edgetune/core/error.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et {

int64_t TokenizedExample::num_targets() const {
  int64_t n = 0;
  for (auto t : target) n += t;
  return n;
}

namespace {

// The text of a special token when it encodes back to exactly that token, else "".
std::string special_text(const Tokenizer& tok, int32_t id) {
  if (id < 0 || !tok.is_special(id)) return "";
  std::string piece = tok.id_to_piece(id);
  return tok.encode_continuation(piece, false) == std::vector<int32_t>{id} ? piece : std::string();
}

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// Where a run of text starts inside the whole text: at its beginning, after plain text (no dummy
// prefix), or right after a special token. Text after a special token is encoded with the token's
// text in front and the token's id dropped again, because tokenizers treat it differently from a
// plain continuation (SentencePiece gives it a dummy prefix; a token with rstrip takes the
// whitespace after it).
struct RunStart {
  bool continuation = false;
  std::string special;
};

std::vector<int32_t> encode_run(const Tokenizer& tok, const RunStart& start, const std::string& text,
                                const std::string& source) {
  if (start.special.empty()) return tok.encode_continuation(text, start.continuation);
  std::vector<int32_t> ids = tok.encode_continuation(start.special + text, true);
  if (ids.empty() || tok.id_to_piece(ids.front()) != start.special)
    fail("data", source, ": '", start.special, "' does not encode to its own token in front of the next text");
  ids.erase(ids.begin());
  return ids;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

}  // namespace

// The ids are those of the whole text (EOS written as its token's text where it can be): the
// segments are grouped into runs that end right after a special token, since text after a special
// token tokenizes independently of the text before it, and each run is encoded in one piece.
// Inside a run, each segment boundary is found by encoding the run up to it: the run's ids start
// with those ids when no token crosses the boundary; a token that does (as "><" between
// "<|eot_id|>" and "<|start_header_id|>" where those are plain text) belongs to the segment it
// starts in.
TokenizedExample conversation_example(Conversation c, const ExampleOptions& o, const Tokenizer& tok, bool* truncated) {
  if (!o.system_prompt.empty() && (c.messages.empty() || c.messages[0].role != Role::system))
    c.messages.insert(c.messages.begin(), {Role::system, o.system_prompt, {}, ""});
  TokenizedExample ex = tokenize_chat(render_chat(c, o.chat_template, o.last_turn_only), tok, 1 << 30, c.source);
  const bool cut = static_cast<int>(ex.ids.size()) > o.max_len;
  if (cut) {
    ex.ids.resize(static_cast<size_t>(o.max_len));
    ex.target.resize(ex.ids.size());
  }
  if (truncated) *truncated = cut;
  return ex;
}

TokenizedExample tokenize_chat(const RenderedChat& chat, const Tokenizer& tok, int max_len,
                               const std::string& source) {
  TokenizedExample ex;
  ex.source = source;
  if (chat.bos && tok.bos_id() >= 0) {
    ex.ids.push_back(tok.bos_id());
    ex.target.push_back(0);
  }
  const std::string eos_text = special_text(tok, tok.eos_id());
  RunStart start;                                // the first run starts the text
  std::string run;                               // the current run's text
  std::vector<std::vector<int32_t>> prefix_ids;  // ids of the run up to the end of each segment in it
  std::vector<uint8_t> flags;                    // trainability of each segment in it
  auto flush = [&]() {
    if (flags.empty()) return;
    const std::vector<int32_t>& ids = prefix_ids.back();
    size_t from = 0;
    for (size_t i = 0; i < flags.size(); ++i) {
      size_t to = ids.size();
      if (i + 1 < flags.size()) {
        const size_t k = common_prefix(prefix_ids[i], ids);
        to = std::min(ids.size(), k == prefix_ids[i].size() ? k : k + 1);
      }
      for (size_t t = from; t < std::max(from, to); ++t) {
        ex.ids.push_back(ids[t]);
        ex.target.push_back(flags[i]);
      }
      from = std::max(from, to);
    }
    run.clear();
    prefix_ids.clear();
    flags.clear();
  };
  for (const auto& seg : chat.segments) {
    if (seg.eos_after && tok.eos_id() < 0)
      fail("data", source, ": the template ends a turn with EOS but the tokenizer has none");
    const bool eos_as_text = seg.eos_after && !eos_text.empty();
    const std::string text = eos_as_text ? seg.text + eos_text : seg.text;
    if (!text.empty()) {
      run += text;
      prefix_ids.push_back(encode_run(tok, start, run, source));
      flags.push_back(seg.trainable ? 1 : 0);
      const std::vector<int32_t>& ids = prefix_ids.back();
      const std::string special = ids.empty() ? std::string() : special_text(tok, ids.back());
      if (!special.empty() && ends_with(run, special)) {
        flush();
        start = {true, special};
      }
    }
    if (seg.eos_after && !eos_as_text) {  // an EOS that cannot be written as text
      flush();
      ex.ids.push_back(tok.eos_id());
      ex.target.push_back(seg.trainable ? 1 : 0);
      start = {true, ""};
    }
  }
  flush();
  if (static_cast<int>(ex.ids.size()) > max_len) {
    ex.ids.resize(static_cast<size_t>(max_len));
    ex.target.resize(static_cast<size_t>(max_len));
  }
  if (!ex.target.empty()) ex.target[0] = 0;  // nothing predicts the first token
  return ex;
}

std::vector<PackedRow> pack_examples(const std::vector<TokenizedExample>& examples,
                                     const std::vector<size_t>& order, int max_len, bool pack,
                                     int32_t pad_id) {
  std::vector<PackedRow> rows;
  PackedRow cur;
  int seg = 0;
  auto flush = [&]() {
    if (cur.ids.empty()) return;
    if (pack) {
      while (static_cast<int>(cur.ids.size()) < max_len) {
        cur.ids.push_back(pad_id);
        cur.positions.push_back(0);
        cur.segments.push_back(-1);
        cur.target.push_back(0);
        cur.example.push_back(-1);
      }
    }
    rows.push_back(std::move(cur));
    cur = PackedRow();
    seg = 0;
  };
  for (size_t idx : order) {
    const auto& ex = examples.at(idx);
    const size_t n = std::min(ex.ids.size(), static_cast<size_t>(max_len));
    if (n == 0) continue;
    if (!pack || cur.ids.size() + n > static_cast<size_t>(max_len)) flush();
    for (size_t t = 0; t < n; ++t) {
      cur.ids.push_back(ex.ids[t]);
      cur.positions.push_back(static_cast<int32_t>(t));
      cur.segments.push_back(seg);
      cur.target.push_back(t == 0 ? 0 : ex.target[t]);
      cur.example.push_back(static_cast<int32_t>(idx));
    }
    ++seg;
  }
  flush();
  return rows;
}

std::vector<size_t> shuffled_order(size_t n, uint64_t seed, uint64_t epoch) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + epoch * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
  auto next = [&]() {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[next() % i]);
  return order;
}

Batch make_batch(const std::vector<PackedRow>& rows, size_t begin, size_t n, int32_t pad_id) {
  Batch b;
  b.rows = static_cast<int>(n);
  for (size_t r = begin; r < begin + n; ++r) b.len = std::max(b.len, static_cast<int>(rows.at(r).ids.size()));
  const size_t total = n * static_cast<size_t>(b.len);
  b.ids.assign(total, pad_id);
  b.positions.assign(total, 0);
  b.segments.assign(total, -1);
  b.target.assign(total, 0);
  b.example.assign(total, -1);
  for (size_t r = 0; r < n; ++r) {
    const auto& row = rows[begin + r];
    std::copy(row.ids.begin(), row.ids.end(), b.ids.begin() + r * b.len);
    std::copy(row.positions.begin(), row.positions.end(), b.positions.begin() + r * b.len);
    std::copy(row.segments.begin(), row.segments.end(), b.segments.begin() + r * b.len);
    std::copy(row.target.begin(), row.target.end(), b.target.begin() + r * b.len);
    std::copy(row.example.begin(), row.example.end(), b.example.begin() + r * b.len);
    for (auto t : row.target) b.num_targets += t;
  }
  return b;
}

BatchStream::BatchStream(std::vector<TokenizedExample> examples, int batch_size, int max_len, bool pack,
                         int32_t pad_id, uint64_t seed)
    : examples_(std::move(examples)), batch_size_(batch_size), max_len_(max_len), pack_(pack),
      pad_id_(pad_id), seed_(seed) {
  if (examples_.empty()) fail("data", "no training examples");
  build_epoch();
}

void BatchStream::build_epoch() {
  rows_ = pack_examples(examples_, shuffled_order(examples_.size(), seed_, epoch_), max_len_, pack_, pad_id_);
  if (rows_.empty()) fail("data", "all training examples are empty");
}

void BatchStream::restore(uint64_t epoch, size_t cursor) {
  epoch_ = epoch;
  build_epoch();
  cursor_ = std::min(cursor, rows_.size());
}

Batch BatchStream::next() {
  const size_t bs = static_cast<size_t>(batch_size_);
  if (cursor_ + bs > rows_.size() && !(cursor_ == 0 && rows_.size() < bs)) {
    ++epoch_;
    build_epoch();
    cursor_ = 0;
  }
  const size_t n = std::min(bs, rows_.size() - cursor_);
  Batch b = make_batch(rows_, cursor_, n, pad_id_);
  cursor_ += n;
  return b;
}

}  // namespace et
