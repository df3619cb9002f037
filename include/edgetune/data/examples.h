// From rendered conversations to training rows: token ids with a per-token target flag (the loss
// mask), packed into fixed-length rows (positions restart and segment ids separate the packed
// conversations, so attention never crosses them) or padded, then batched in a seeded order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "edgetune/tokenize/chat_template.h"

namespace et {

class Tokenizer;

struct TokenizedExample {
  std::vector<int32_t> ids;
  // target[t] == 1: token t is a training target (predicted from the tokens before it). Only
  // assistant output (and the token ending its turn) is a target.
  std::vector<uint8_t> target;
  std::string source;  // file:line
  int64_t num_targets() const;
};

// The ids of the whole rendered text (special-token text such as <|im_start|> becomes its id),
// BOS / EOS where the template asks, each token a target when it starts in a trainable segment;
// truncated to max_len tokens. Equal to encoding the whole text at once (EOS written as its text).
TokenizedExample tokenize_chat(const RenderedChat& chat, const Tokenizer& tok, int max_len,
                               const std::string& source);

// How a conversation becomes an example: the same for training and for eval's held-out loss.
struct ExampleOptions {
  ChatTemplate chat_template = ChatTemplate::plain;
  std::string system_prompt;    // added as the first message to a conversation that has no system one
  bool last_turn_only = false;  // only the last assistant turn is a target
  int max_len = 2048;           // tokens kept; the rest is cut after tokenizing the whole conversation
};

// A conversation as an example (system prompt, template, targets, truncation); *truncated says
// whether tokens were cut. A conversation the template cannot express throws naming its source.
TokenizedExample conversation_example(Conversation conv, const ExampleOptions& options, const Tokenizer& tok,
                                      bool* truncated = nullptr);

struct PackedRow {
  std::vector<int32_t> ids;
  std::vector<int32_t> positions;  // restart at 0 for each packed conversation
  std::vector<int32_t> segments;   // conversation index within the row; -1 for padding
  std::vector<uint8_t> target;     // never 1 on the first token of a conversation or on padding
  std::vector<int32_t> example;    // index of the token's conversation in `examples`; -1 for padding
};

// Lays examples (in the given order) into rows. pack: greedily fill rows of max_len tokens (an
// example never straddles two rows; each row is padded to max_len). !pack: one example per row,
// unpadded (the batcher pads to the batch's longest row).
std::vector<PackedRow> pack_examples(const std::vector<TokenizedExample>& examples,
                                     const std::vector<size_t>& order, int max_len, bool pack,
                                     int32_t pad_id);

// A deterministic permutation of 0..n-1 from (seed, epoch): Fisher-Yates over splitmix64, the same
// on every platform and standard library.
std::vector<size_t> shuffled_order(size_t n, uint64_t seed, uint64_t epoch);

struct Batch {
  int rows = 0, len = 0;
  std::vector<int32_t> ids, positions, segments;  // [rows * len], row-major
  std::vector<uint8_t> target;
  std::vector<int32_t> example;  // the conversation of each token (PackedRow::example); -1 padding
  int64_t num_targets = 0;
};

// Rows [begin, begin + n) as one batch, padded to the longest row.
Batch make_batch(const std::vector<PackedRow>& rows, size_t begin, size_t n, int32_t pad_id);

// An endless, resumable stream of batches: each epoch reshuffles the examples with (seed, epoch),
// packs them and yields batch_size rows at a time (the last partial batch of an epoch is dropped
// unless it is the only one). State is (epoch, next row), so a resumed run sees the same batches.
class BatchStream {
 public:
  BatchStream(std::vector<TokenizedExample> examples, int batch_size, int max_len, bool pack,
              int32_t pad_id, uint64_t seed);
  Batch next();
  uint64_t epoch() const { return epoch_; }
  size_t cursor() const { return cursor_; }
  void restore(uint64_t epoch, size_t cursor);
  size_t rows_per_epoch() const { return rows_.size(); }

 private:
  void build_epoch();
  std::vector<TokenizedExample> examples_;
  int batch_size_, max_len_;
  bool pack_;
  int32_t pad_id_;
  uint64_t seed_, epoch_ = 0;
  size_t cursor_ = 0;
  std::vector<PackedRow> rows_;
};

}  // namespace et
